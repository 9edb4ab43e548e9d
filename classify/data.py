"""Cell datasets for classification: load a prepared ``cells`` folder into memory.

A prepared folder (``leukoscan.data`` canonical form) holds ``cells/<class>/<file>`` and
``index.csv`` (file, label, group, split). :func:`load_cells` reads every crop as RGB
uint8; :func:`resolve_cells` accepts a dataset name (``all_idb2``, ``demo_cells``) or a
folder and prepares it through ``leukoscan.data.resolve`` when needed.

Grouping for ALL-IDB2 (:func:`overlap_groups`): the index's group is the source ALL-IDB1
slide. Some slides show overlapping fields of the same smear (the same cell appears in
crops cut from different slides), so by default cross-validation groups by the ALL-IDB1
*overlap group* (``allidb1_image_meta.csv`` ``group_id``; 55 groups for 66 slides) --
strictly coarser than grouping by slide, so no slide is ever split either.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leukoscan.data import resolve
from leukoscan.encode import read_csv_dicts
from leukoscan.io import read_image
from leukoscan.paths import data_root as _root
from leukoscan.paths import shared_data

META_CSV = Path("ALL_IDB") / "allidb1_image_meta.csv"


@dataclass
class CellSet:
    """In-memory crops: ``images`` list of RGB uint8 ``(H, W, 3)``; ``labels`` int ``(N,)``."""

    images: list[np.ndarray]
    labels: np.ndarray
    class_names: tuple[str, ...]
    groups: list[str]
    files: list[str]
    splits: list[str]
    root: Path | None = None
    meta: dict[str, list[str]] = field(default_factory=dict)  # extra per-item columns
    split_counts: dict[str, int] = field(default_factory=dict)  # items per split of the whole index ("" = none)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray) -> CellSet:
        idx = [int(i) for i in idx]
        return CellSet(
            [self.images[i] for i in idx],
            self.labels[idx],
            self.class_names,
            [self.groups[i] for i in idx],
            [self.files[i] for i in idx],
            [self.splits[i] for i in idx],
            self.root,
            {k: [v[i] for i in idx] for k, v in self.meta.items()},
            dict(self.split_counts),
        )


def load_cells(
    folder: str | Path, class_names: tuple[str, ...] | None = None, splits: tuple[str, ...] | None = None
) -> CellSet:
    """Read a prepared cells folder; classes sorted by name unless ``class_names`` is given.

    ``splits``: read only the crops of these splits (all crops when the index has no split
    column); the others are never decoded, only counted in ``split_counts``.
    """
    folder = Path(folder)
    index = folder / "index.csv"
    if not index.is_file():
        raise FileNotFoundError(f"{folder}: no index.csv (not a prepared cells dataset)")
    rows = read_csv_dicts(index)
    if not rows:
        raise ValueError(f"{index}: no rows")
    names = tuple(class_names or sorted({r["label"] for r in rows}))
    unknown = {r["label"] for r in rows} - set(names)
    if unknown:
        raise ValueError(f"{index}: labels {sorted(unknown)} not in class_names {names}")
    counts = dict(Counter(r.get("split", "") or "" for r in rows))
    if splits is not None and set(counts) != {""}:
        rows = [r for r in rows if (r.get("split", "") or "") in splits]
    return CellSet(
        images=[read_image(folder / r["file"]) for r in rows],
        labels=np.array([names.index(r["label"]) for r in rows], dtype=int),
        class_names=names,
        groups=[r.get("group", "") or "" for r in rows],
        files=[r["file"] for r in rows],
        splits=[r.get("split", "") or "" for r in rows],
        root=folder,
        split_counts=counts,
    )


def resolve_cells(
    data: str | Path, data_root: str | Path | None = None, splits: tuple[str, ...] | None = None
) -> CellSet:
    """Dataset name or folder -> :class:`CellSet` (prepared under ``runs/data`` if needed).

    ``"a+b"`` (names or folders joined by ``+``, when no such folder exists) concatenates
    the datasets, each keeping its own splits; classes are the sorted union and
    ``meta["source"]`` names each item's dataset (held-out figures are given per source).
    ``splits``: read only the items of these splits (None: all).
    """
    parts = str(data).split("+")
    if len(parts) > 1 and not Path(data).exists():
        return concat_cells([resolve_cells(p, data_root, splits) for p in parts], parts)
    folder = resolve(data, data_root=data_root)
    return load_cells(folder, splits=splits)


def concat_cells(sets: list[CellSet], names: list[str]) -> CellSet:
    """One :class:`CellSet` of ``sets`` (classes: sorted union; ``meta["source"]`` from ``names``)."""
    classes = tuple(sorted({c for s in sets for c in s.class_names}))
    labels = np.concatenate([[classes.index(s.class_names[int(i)]) for i in s.labels] for s in sets]).astype(int)
    return CellSet(
        [im for s in sets for im in s.images],
        labels,
        classes,
        [g for s in sets for g in s.groups],
        [f"{n}/{f}" for s, n in zip(sets, names, strict=True) for f in s.files],
        [x for s in sets for x in s.splits],
        None,
        {"source": [n for s, n in zip(sets, names, strict=True) for _ in range(len(s))]},
    )


def _slide_meta(data_root: str | Path | None) -> dict[str, dict[str, str]]:
    for base in (Path(data_root) if data_root else _root(None), shared_data()):
        if base is not None and (base / META_CSV).is_file():
            with open(base / META_CSV, newline="") as f:
                return {r["image"]: r for r in csv.DictReader(f)}
    return {}


def overlap_groups(cells: CellSet, data_root: str | Path | None = None) -> list[str]:
    """ALL-IDB1 overlap group of each item's source slide (falls back to the slide itself).

    Also records the slide's camera in ``cells.meta["camera"]`` for subgroup reporting.
    """
    meta = _slide_meta(data_root)
    if not meta:
        import warnings

        warnings.warn(
            f"{META_CSV} not found under the data root: grouping by source slide only", RuntimeWarning, stacklevel=2
        )
        return list(cells.groups)
    cells.meta["camera"] = [meta.get(g, {}).get("camera", "").split(" ")[0] for g in cells.groups]
    return [f"overlap{meta[g]['group_id']}" if g in meta else g for g in cells.groups]


def cv_groups(cells: CellSet, group_by: str, data_root: str | Path | None = None) -> list[str] | None:
    """Groups for CV: ``"overlap"`` (ALL-IDB1 overlap groups), ``"slide"`` (index group), ``"none"``."""
    if group_by == "none":
        return None
    if group_by == "slide":
        return list(cells.groups)
    if group_by == "overlap":
        return overlap_groups(cells, data_root)
    raise ValueError(f"unknown group_by {group_by!r}; valid: overlap, slide, none")
