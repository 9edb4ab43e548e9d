"""Which files a batch reads: files as given, folders searched (recursively by default).

Rules: hidden files and folders (``.name``) are skipped; symbolic links are followed, but a
folder already visited (a symlink loop, or two links to one folder) is searched once; a
dangling symbolic link is reported as a failure, never dropped without a word. A LeukoScan
output folder (one holding ``.leukoscan.lock``, e.g. ``runs/infer/exp`` under a folder
given as input) is not searched: annotated images of this or an earlier run are not slides.
Every other file found is returned; the batch reports files of unsupported types as failures.
A ``.csv`` given as an input is a manifest: the files it lists (column ``path``, else the
first column; relative paths from the manifest's folder), each taken as if given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from leukoscan.pipeline.batch.outputs import LOCK_FILE

Failure = tuple[str, str]  # (input path, reason)


def _walk(
    folder: Path, recursive: bool, seen: set[tuple[int, int]], files: list[Path], failures: list[Failure]
) -> None:
    try:
        st = folder.stat()
    except OSError as e:
        failures.append((str(folder), f"cannot read folder ({e.strerror or e})"))
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:  # symlink loop or a second link to a folder already searched
        return
    seen.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        failures.append((str(folder), f"cannot list folder ({e.strerror or e})"))
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        p = Path(e.path)
        if e.is_symlink() and not p.exists():
            failures.append((str(p), "dangling symbolic link (its target does not exist)"))
        elif e.is_dir():
            if recursive and not (p / LOCK_FILE).exists():
                _walk(p, recursive, seen, files, failures)
        else:
            files.append(p)


def expand_inputs(inputs: Iterable[str | Path], *, recursive: bool = True) -> tuple[list[Path], list[Failure]]:
    """Files from ``inputs`` (files as given, folders searched) and the failures so far."""
    files: list[Path] = []
    failures: list[Failure] = []
    seen: set[tuple[int, int]] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / LOCK_FILE).exists():
            failures.append((str(p), "a LeukoScan output folder, not slides (not searched)"))
        elif p.is_dir():
            found: list[Path] = []
            n_failed = len(failures)
            _walk(p, recursive, seen, found, failures)
            if not found and len(failures) == n_failed:
                sub = "" if recursive else " (sub-folders not searched: --no-recursive)"
                failures.append((str(p), f"folder has no files{sub}"))
            files.extend(found)
        elif p.is_file() and p.suffix.lower() == ".csv":
            listed, missing = read_manifest(p)
            files.extend(listed)
            failures.extend(missing)
        elif p.is_file():
            files.append(p)
        elif p.is_symlink():
            failures.append((str(p), "dangling symbolic link (its target does not exist)"))
        else:
            failures.append((str(p), "no such file or folder"))
    return _dedupe(files), failures


def read_manifest(path: Path) -> tuple[list[Path], list[Failure]]:
    """Files listed in a CSV manifest; a listed file that does not exist is a failure."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM and CRLF
        rows = [r for r in csv.reader(f) if r and r[0].strip()]
    if not rows:
        return [], [(str(path), "empty manifest")]
    header = "path" in rows[0]
    col = rows[0].index("path") if header else 0
    files: list[Path] = []
    failures: list[Failure] = []
    for row in rows[1:] if header else rows:
        if len(row) <= col or not row[col].strip():
            continue
        q = Path(row[col].strip())
        q = q if q.is_absolute() else path.parent / q
        if q.is_file():
            files.append(q)
        else:
            failures.append((str(q), "no such file (listed in manifest)"))
    return files, failures


def _dedupe(files: list[Path]) -> list[Path]:
    """The same file reached twice (named twice, or via a link) is processed once."""
    out, seen = [], set()
    for f in files:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
