"""BCCD white cells with their type -> canonical cells form (the differential's BCCD data).

Joins BCCD's WBC boxes (``Annotations/*.xml``) with ``wbc_subtypes.csv``
(``image,category,wbc_boxes``: the white-cell type BCCD's own labels file names for each
train/val image). The type is given per image, not per box, so:

- one type named: every WBC box of the image gets it (most images hold one WBC box);
- several types named (``"NEUTROPHIL, EOSINOPHIL"``: one per box, order unknown) or none:
  the image's boxes cannot be assigned and are left out, counted in the report
  (``mixed_types`` / ``no_type``) and in the notes;
- an image with no row, or a degenerate box: left out and reported;
- a type with fewer than ``min_per_class`` cells over all splits (default 3; BCCD has one
  basophil): left out and reported, since a classifier cannot learn or be scored on it
  (the SVM heads' calibration needs 3 per class).

Each cell is cut like the pipeline cuts it for the type stage: a square of
``max(w, h) * (1 + 2 * margin)`` around the box centre (``margin`` default 0.3, the
pipeline's ``type_margin``; more context than the blast crops' 0.15), padded with edge pixels
at the image border, at native resolution (training resizes to the model's input).
Labels are the PBC class names in lower case (``neutrophil``, ``eosinophil``,
``lymphocyte``, ``monocyte``, ``basophil``). Split = BCCD's official ``ImageSets`` split
(``train``/``val``); ``group`` = the source image. BCCD's split was not made by field and
some fields overlap across images, so train and val are not fully independent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.bccd import read_split_list
from leukoscan.data.canonical import CellImage, write_cells
from leukoscan.data.quality import QualityReport
from leukoscan.data.voc import find_image, parse_voc
from leukoscan.errors import DataError
from leukoscan.io import read_image

SUBTYPES_CSV = "wbc_subtypes.csv"
WBC = "WBC"


def parse_category(text: str) -> list[str]:
    """``"NEUTROPHIL, EOSINOPHIL"`` -> ``["neutrophil", "eosinophil"]``; empty -> ``[]``."""
    return [t.strip().lower() for t in str(text).split(",") if t.strip()]


def read_subtypes(path: Path) -> dict[str, list[str]]:
    """``image stem -> types named`` from ``wbc_subtypes.csv``."""
    if not path.is_file():
        raise DataError(f"{path}: missing (the per-image WBC types of BCCD train+val)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "category"} <= set(rows[0]):
        raise DataError(f"{path}: expected columns image,category[,wbc_boxes]")
    return {Path(r["image"]).stem: parse_category(r["category"] or "") for r in rows}


def square_crop(image: np.ndarray, box: np.ndarray, margin: float) -> np.ndarray:
    """Square crop ``max(w, h) * (1 + 2 * margin)`` around the box centre, edge-padded
    (the geometry of ``leukoscan.classify.crops.crop_detections``)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(max(x2 - x1, y2 - y1) * (1 + 2 * margin), 1.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1i, y1i = max(int(round(cx + side / 2)), x0 + 1), max(int(round(cy + side / 2)), y0 + 1)
    h, w = image.shape[:2]
    inner = image[max(0, y0) : min(h, y1i), max(0, x0) : min(w, x1i)]
    pads = ((max(0, -y0), max(0, y1i - h)), (max(0, -x0), max(0, x1i - w)), (0, 0))
    return np.ascontiguousarray(np.pad(inner, pads, mode="edge") if any(sum(p) for p in pads) else inner)


@converter("bccd_types", kind="cells")
def convert_bccd_types(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    margin: float = 0.3,
    splits: tuple[str, ...] = ("train", "val"),
    min_per_class: int = 3,
) -> None:
    """``src`` is the BCCD folder (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/``,
    ``wbc_subtypes.csv``)."""
    types = read_subtypes(src / SUBTYPES_CSV)
    items: list[CellImage] = []
    left_out = {"mixed_types": 0, "no_type": 0, "no_row": 0}
    for split in splits:
        lst = src / "ImageSets" / "Main" / f"{split}.txt"
        if not lst.is_file():
            report.note(f"split {split!r} skipped: no {lst.relative_to(src)}")
            continue
        for stem in read_split_list(lst):
            path, xml = find_image(src / "JPEGImages", stem), src / "Annotations" / f"{stem}.xml"
            if path is None or not xml.is_file():
                report.add("missing_image", f"{stem}.jpg", f"listed in {lst.name}", "skipped")
                continue
            ann = parse_voc(xml)
            wbc = [i for i, n in enumerate(ann.labels) if n == WBC and not ann.degenerate[i]]
            named = types.get(stem)
            kind = (
                "no_row" if named is None else "no_type" if not named else "mixed_types" if len(set(named)) > 1 else ""
            )
            if kind:
                left_out[kind] += len(wbc)
                report.add(kind, f"{stem}.jpg", f"{len(wbc)} WBC box(es), types {named}", "left out")
                continue
            if not wbc:
                continue
            image = read_image(path)
            for k, i in enumerate(wbc):
                crop = square_crop(image, ann.boxes[i], margin)
                items.append(CellImage(f"{stem}_{k}.png", named[0], stem, split, array=crop))
    counts = {t: sum(it.label == t for it in items) for t in {it.label for it in items}}
    rare = sorted(t for t, n in counts.items() if n < int(min_per_class))
    for t in rare:
        report.add("rare_type", t, f"{counts[t]} cell(s), fewer than min_per_class={min_per_class}", "left out")
    items = [it for it in items if it.label not in rare]
    for split in splits:
        labels = [it.label for it in items if it.split == split]
        if labels:
            report.count(split, labels, len(labels))
    if not items:
        raise DataError(f"{src}: no typed WBC boxes found (ImageSets lists, Annotations, {SUBTYPES_CSV})")
    report.note(
        f"WBC boxes left out: {left_out['mixed_types']} in images naming several types, "
        f"{left_out['no_type']} with no type, {left_out['no_row']} in images without a row"
    )
    report.note(f"cells cut as squares with margin {margin} (the pipeline's type crop); type given per image")
    write_cells(stage, items, progress=progress)
