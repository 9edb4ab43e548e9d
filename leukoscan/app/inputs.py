"""Which files a batch reads: files as given, folders searched (recursively by default).

Rules: hidden files and folders (``.name``) are skipped; symbolic links are followed, but a
folder already visited (a symlink loop, or two links to one folder) is searched once; a
dangling symbolic link is reported as a failure, never dropped without a word. A LeukoScan
output folder (one holding ``.leukoscan.lock``, e.g. ``runs/infer/exp`` under a folder
given as input) is not searched: annotated images of this or an earlier run are not slides.
Every other file found is returned; the batch reports files of unsupported types as failures.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from leukoscan.app.outputs import LOCK_FILE

Failure = tuple[str, str]  # (input path, reason)


def _walk(folder: Path, recursive: bool, seen: set[tuple[int, int]], files: list[Path],
          failures: list[Failure]) -> None:
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


def expand_inputs(inputs: Iterable[str | Path], *, recursive: bool = True
                  ) -> tuple[list[Path], list[Failure]]:
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
        elif p.is_file():
            files.append(p)
        elif p.is_symlink():
            failures.append((str(p), "dangling symbolic link (its target does not exist)"))
        else:
            failures.append((str(p), "no such file or folder"))
    return _dedupe(files), failures


def _dedupe(files: list[Path]) -> list[Path]:
    """The same file reached twice (named twice, or via a link) is processed once."""
    out, seen = [], set()
    for f in files:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
