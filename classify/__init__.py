"""Classification stage: the blast-vs-normal classifier zoo on leukocyte crops.

May import ``detect`` (data flows tools -> classify -> detect), never the reverse.
"""

from __future__ import annotations
