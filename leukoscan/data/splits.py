"""Split files and grouped, stratified splits (fixed seed)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from leukoscan.errors import DataError


def read_csv_table(path: str | Path, columns: tuple[str, ...], what: str) -> list[dict[str, str]]:
    """Rows of a CSV that must have ``columns``; any problem -> DataError naming the file."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read {what} ({e})") from None
    if not rows or not set(columns) <= set(rows[0]):
        raise DataError(f"{path}: {what} needs columns '{','.join(columns)}'")
    return rows


def read_split_file(path: str | Path) -> dict[str, str]:
    """CSV with columns ``image`` (stem or file name) and ``split`` -> {stem: split}."""
    rows = read_csv_table(path, ("image", "split"), "split file")
    return {Path(r["image"].strip()).stem: r["split"].strip() for r in rows if r["image"].strip()}


def grouped_stratified_split(
    labels: list[str], groups: list[str], *, val_fraction: float = 0.3, seed: int = 0
) -> list[str]:
    """Assign ``train``/``val`` per item, keeping each group whole and labels balanced.

    Uses scikit-learn's StratifiedGroupKFold with ``round(1 / val_fraction)`` folds and
    takes the first fold as ``val``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < 2:
        raise DataError(f"cannot split {n_groups} group(s) into train/val; give a split file")
    y, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)[1:]
    n_splits = min(max(2, int(round(1 / val_fraction))), n_groups)
    if counts.min() >= n_splits:
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:  # too few items of some label to stratify: groups only
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, val_idx = next(iter(cv.split(np.zeros(len(y)), y, groups)))
    out = ["train"] * len(labels)
    for i in val_idx:
        out[i] = "val"
    return out
