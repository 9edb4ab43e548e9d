"""Errors raised by the dataset converters; each message names the offending file."""

from __future__ import annotations


class DataError(ValueError):
    """Unreadable or inconsistent input data (message starts with the file's path)."""


class DatasetMissingError(FileNotFoundError):
    """A dataset is not under the data root and could not be downloaded (one-line message)."""
