"""LeukoScan shared core: registries, configs, image I/O, devices, data roots.

Used by both stages (``detect`` and ``classify``); imports nothing heavy.
"""

from __future__ import annotations

__version__ = "0.1.0"
