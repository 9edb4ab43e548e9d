"""Errors raised by the dataset converters; each message names the offending file.

Both live in :mod:`leukoscan.errors`; the names here stay for existing imports.
"""

from __future__ import annotations

from leukoscan.errors import DataError, MissingDatasetError

DatasetMissingError = MissingDatasetError

__all__ = ["DataError", "DatasetMissingError", "MissingDatasetError"]
