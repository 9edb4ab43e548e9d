"""Synthetic datasets made by :mod:`leukoscan.synthetic`: ``demo`` and ``demo_cells``.

``demo`` (detection, BCCD-like classes): blast and normal leukocytes -> ``WBC``,
``rbc`` -> ``RBC``, ``platelet`` -> ``Platelets``. ``demo_cells`` (classification):
single-cell crops ``blast`` / ``normal`` in groups of 4 per synthetic slide; slides are
split train/val/test as 3:1:1 (slide index mod 5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.canonical import CellImage, DetImage, write_cells, write_detection
from leukoscan.data.quality import QualityReport
from leukoscan.synthetic import make_cell_crop, make_smear

DEMO_NAMES = ["WBC", "RBC", "Platelets"]
CELL_NAMES = ["blast", "normal"]
_TO_BCCD = {"blast": "WBC", "leukocyte": "WBC", "rbc": "RBC", "platelet": "Platelets"}


@converter("demo", needs_source=False)
def convert_demo(
    src: Path | None,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    n_train: int = 32,
    n_val: int = 8,
    n_test: int = 8,
    height: int = 480,
    width: int = 640,
    seed: int = 0,
) -> None:
    """Write ``n_train``/``n_val``/``n_test`` synthetic smears of ``height`` x ``width`` px."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[DetImage]] = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        if n <= 0:
            continue
        items = []
        for i in range(n):
            s = make_smear(height, width, seed=int(rng.integers(2**31)))
            labels = [_TO_BCCD[lab] for lab in s.labels]
            items.append(DetImage(f"demo_{split}_{i:04d}.jpg", width, height, s.boxes, labels, array=s.image))
        splits[split] = items
        report.count(split, [lab for it in items for lab in it.labels], n)
    write_detection(stage, final, splits, DEMO_NAMES, progress=progress)
    report.note(f"synthetic smears {height}x{width}, seed {seed}")


@converter("demo_cells", needs_source=False, kind="cells")
def convert_demo_cells(
    src: Path | None,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    n_per_class: int = 40,
    size: int = 128,
    seed: int = 0,
) -> None:
    """Write ``n_per_class`` synthetic ``size`` x ``size`` crops per class (blast, normal)."""
    rng = np.random.default_rng(seed)
    labels = ["blast", "normal"] * n_per_class
    items = []
    for i, lab in enumerate(labels):
        slide = i // 4
        split = ("train", "train", "train", "val", "test")[slide % 5]
        img = make_cell_crop(size, blast=lab == "blast", seed=int(rng.integers(2**31)))
        items.append(CellImage(f"cell_{i:04d}.png", lab, f"demo_slide{slide:03d}", split, array=img))
    write_cells(stage, items, progress=progress)
    for split in ("train", "val", "test"):
        sel = [it.label for it in items if it.split == split]
        if sel:
            report.count(split, sel, len(sel))
    report.note(f"synthetic crops {size}x{size}, seed {seed}")
