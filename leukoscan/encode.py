"""User-controlled strings encoded for where they land (file names, links, spreadsheet cells).

Slide names come from the user's file system and may hold anything a file name can:
``javascript:...``, ``#``, ``?``, ``%``, a leading ``=``, 300 bytes. Every output that
carries such a string goes through one of these:

- :func:`url_path` / :func:`href`: a link or image source in ``report.html``: a relative path,
  percent-encoded with ``urllib.parse.quote`` (so ``javascript:x`` becomes the relative file
  ``javascript%3Ax``, ``#``/``?``/``%`` stay part of the file name); ``href`` also HTML-escapes.
- :func:`csv_cell` / :func:`csv_row` / :func:`csv_rows`: a cell a spreadsheet would read as a
  formula (text starting with ``= + - @``, tab or carriage return) gets a leading ``'`` (OWASP
  "CSV injection"); numbers are left alone.
- :func:`short_name`: a file-name component longer than :data:`MAX_NAME_BYTES` is cut and
  suffixed with a hash of the whole name (names stay unique and fit every file system,
  with room for ``_annotated.jpeg`` and temporary prefixes).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

#: Longest file-name component (bytes) LeukoScan derives from a user's name; file systems allow
#: 255, and outputs add up to ~40 bytes (``.<name>_annotated.jpeg.tmp``).
MAX_NAME_BYTES = 180
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def url_path(rel_path: str) -> str:
    """A relative output path as a URL path: percent-encoded (every character outside
    ``A-Za-z0-9_.-~/``), so no scheme, query or fragment can start inside it; a leading ``/``
    (absolute or ``//host``) is refused. Safe in an HTML attribute as it is (autoescaping
    templates leave it unchanged)."""
    path = str(rel_path).replace("\\", "/")
    if path.startswith("/") or PurePosixPath(path).is_absolute():
        raise ValueError(f"not a relative output path: {path[:80]!r}")
    return quote(path, safe="/")


def href(rel_path: str) -> str:
    """:func:`url_path`, HTML-escaped for an attribute built by hand (a no-op on its characters)."""
    return html.escape(url_path(rel_path), quote=True)


def csv_cell(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell (strings starting like a formula get a ``'``;
    so do ``'``-prefixed ones, which keeps :func:`csv_uncell` exact)."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def csv_uncell(value: str) -> str:
    """Inverse of :func:`csv_cell` (for LeukoScan's own CSV files read back as data)."""
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_START):
        return value[1:]
    return value


def read_csv_dicts(path: Any) -> list[dict[str, str]]:
    """Rows of a CSV LeukoScan wrote (or a user saved from a spreadsheet): UTF-8 with or
    without a byte-order mark, any newline style, cells through :func:`csv_uncell`."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        return [{k: csv_uncell(v) if isinstance(v, str) else v for k, v in r.items()} for r in csv.DictReader(f)]


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def csv_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Dict rows (``csv.DictWriter``) with every string cell neutralised."""
    return [{k: csv_cell(v) for k, v in r.items()} for r in rows]


def short_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """One file-name component, cut to ``max_bytes`` (UTF-8) with ``~<hash>`` when longer."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= max_bytes:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    keep = raw[: max_bytes - len(digest) - 1].decode("utf-8", "ignore")
    return f"{keep}~{digest}"


def short_path(rel: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Every component of a relative posix path through :func:`short_name`."""
    return "/".join(short_name(p, max_bytes) for p in rel.split("/"))


__all__ = [
    "FORMULA_START",
    "MAX_NAME_BYTES",
    "csv_cell",
    "csv_row",
    "csv_rows",
    "csv_uncell",
    "href",
    "read_csv_dicts",
    "short_name",
    "short_path",
    "url_path",
]
