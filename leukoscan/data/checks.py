"""Checks before training: refuse data a model cannot learn from, with the counts.

- :func:`check_detection_splits`: each split exists and has images, boxes are finite,
  the training split has objects (after the conversion's quality rules dropped unknown
  classes, degenerate and out-of-image boxes; the dropped counts are in the message).
- :func:`check_cells`: a cells dataset has items and at least two classes.
- :func:`source_fingerprint`: sizes and modification times of every file under a raw
  dataset folder, hashed.
- :func:`cache_key`: what defines a prepared copy: the source fingerprint, the *content* of
  the side files the converter reads (split, provenance and meta CSVs, option paths), the
  converter options and the converter version (:func:`converter_version`, a hash of the
  conversion code); a prepared dataset is re-converted when it changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path

from leukoscan.data.canonical import read_coco
from leukoscan.errors import DataError


def _dropped(folder: Path) -> str:
    """``"; conversion dropped: unknown_label 12, ..."`` from report.json, or ``""``."""
    try:
        counts = json.loads((folder / "report.json").read_text()).get("issue_counts", {})
    except (OSError, ValueError):
        return ""
    parts = [f"{k} {v}" for k, v in sorted(counts.items()) if k != "no_objects" and v]
    return f"; the conversion dropped: {', '.join(parts)} (see {folder / 'report.json'})" if parts else ""


def check_detection_splits(folder: str | Path, train_split: str, val_split: str) -> dict[str, Counter]:
    """Object counts per class of each split; DataError when training could not be meaningful."""
    folder = Path(folder)
    counts: dict[str, Counter] = {}
    for split in dict.fromkeys((train_split, val_split)):
        coco = read_coco(folder, split)  # a missing split: DataError naming the ones there are
        n_img = len(coco["images"])
        if n_img == 0:
            raise DataError(
                f"{folder}: split {split!r} has no images; nothing to "
                f"{'train on' if split == train_split else 'validate on'}"
            )
        bad = [
            a
            for a in coco["annotations"]
            if len(a.get("bbox", ())) != 4 or not all(math.isfinite(float(v)) for v in a["bbox"])
        ]
        if bad:
            raise DataError(
                f"{folder}: split {split!r} has {len(bad)} box(es) with non-finite (NaN/inf) "
                f"coordinates; fix the labels and prepare the data again"
            )
        names = {c["id"]: c["name"] for c in coco["categories"]}
        counts[split] = Counter(names.get(a["category_id"], "?") for a in coco["annotations"])
        if split == train_split and not counts[split]:
            raise DataError(
                f"{folder}: split {split!r} has 0 objects in {n_img} image(s) of classes "
                f"{list(names.values())}; nothing to learn{_dropped(folder)}"
            )
    return counts


def check_cells(labels: list[str] | tuple[str, ...], where: str) -> Counter:
    """Items per class of a cells dataset; DataError when empty or of a single class."""
    counts = Counter(labels)
    if not counts:
        raise DataError(f"{where}: no cell images; nothing to train on")
    if len(counts) < 2:
        raise DataError(
            f"{where}: all {sum(counts.values())} cell images are of class "
            f"{next(iter(counts))!r}; a classifier needs at least two classes"
        )
    return counts


def source_fingerprint(folder: str | Path) -> str:
    """Hash of (relative path, size, mtime) of every file under ``folder`` (hidden ones skipped)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            try:
                st = p.stat()
            except OSError:  # dangling link: its absence is part of the state
                h.update(f"{p.relative_to(folder)}\0missing\n".encode())
                continue
            h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def converter_version() -> str:
    """Hash of the conversion code (every module of :mod:`leukoscan.data`): an edited converter
    or canonical writer gives a new version, so cached conversions are rebuilt."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _content(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"
    except OSError as e:
        return f"unreadable:{e.errno}"


def cache_key(src: str | Path | None, side_files: list[Path], options: dict | None = None) -> dict:
    """What a prepared copy was made from (see the module docstring); compare for equality."""
    return {
        "source": source_fingerprint(src) if src else None,
        "side_files": {str(Path(p).absolute()): _content(Path(p)) for p in side_files},
        "options": {k: str(v) for k, v in sorted((options or {}).items())},
        "converter_version": converter_version(),
    }


__all__ = ["cache_key", "check_cells", "check_detection_splits", "converter_version", "source_fingerprint"]
