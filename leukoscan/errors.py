"""The error contract: every error a user can fix is a :class:`LeukoScanError`.

The command-line wrapper (:func:`leukoscan.tools.common.user_errors`) prints such an error as one
line and exits 2; anything else is a bug and ends in a traceback. The subclasses also
derive from the matching built-in (``ValueError``, ``FileNotFoundError``) so callers that
caught those keep working.
"""

from __future__ import annotations


class LeukoScanError(Exception):
    """Base of the errors a user can fix (bad config, missing data or model, bad input)."""


class ConfigError(LeukoScanError, ValueError):
    """A config file, override, flag or registry name that does not fit (names the key)."""


class DataError(LeukoScanError, ValueError):
    """Unreadable or inconsistent input data (message starts with the file's path)."""


class MissingDatasetError(LeukoScanError, FileNotFoundError):
    """A dataset is not under the data root and could not be downloaded (one-line message)."""


class BadInputError(LeukoScanError, ValueError):
    """An input (image file, array) that cannot be used; the message names it."""


class MissingModelError(LeukoScanError, FileNotFoundError):
    """No trained model (run folder, weights file, ONNX twin) where one was asked for."""


class OutputExistsError(LeukoScanError, FileExistsError):
    """An output folder that is not empty and may not be overwritten."""


__all__ = [
    "BadInputError",
    "ConfigError",
    "DataError",
    "LeukoScanError",
    "MissingDatasetError",
    "MissingModelError",
    "OutputExistsError",
]
