"""Cells as the classifier will see them: detector boxes on ALL-IDB1 slides, cut by the
pipeline's own crop function, labelled by matching to the annotations.

:func:`write_cells` takes each slide's cells as the pipeline detects them (one box per
cell, :func:`leukoscan.pipeline.train.allpipe.cut_cells`), labels each cell ``blast`` / ``normal`` /
``none`` (:func:`leukoscan.pipeline.infer.seam.cell_labels`) and writes a prepared cells folder
(``cells/<label>/<slide>_<k>.png`` + ``index.csv`` with ``file,label,group,split`` and
``slide, camera, fold, x1..y2, det_blast, det_leukocyte``).
``none`` = a detector box on no annotated leukocyte (reject-option training data).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.crops import crop_detections
from leukoscan.encode import csv_rows, read_csv_dicts
from leukoscan.errors import DataError
from leukoscan.io import atomic_write_text, write_image
from leukoscan.pipeline.infer.seam import cell_labels
from leukoscan.schema import DET_BLAST, DET_LEUK

INDEX_FIELDS = (
    "file",
    "label",
    "group",
    "split",
    "slide",
    "camera",
    "fold",
    "x1",
    "y1",
    "x2",
    "y2",
    DET_BLAST,
    DET_LEUK,
)


@dataclass(frozen=True)
class Slide:
    """One annotated slide of a prepared ``all_idb1`` folder (centroids ``(K, 2)`` x, y px)."""

    path: Path
    label: int
    group: str
    camera: str
    split: str
    blasts: np.ndarray
    leukocytes: np.ndarray

    @property
    def name(self) -> str:
        return self.path.name


def read_slides(data_dir: str | Path, split: str) -> list[Slide]:
    """Slides of ``split`` in a prepared ``all_idb1`` folder (``centroids/<split>.json``)."""
    data_dir = Path(data_dir)
    cfile = data_dir / "centroids" / f"{split}.json"
    if not cfile.is_file():
        raise DataError(
            f"{cfile}: not a prepared ALL-IDB1 folder with a {split!r} split (run: leukoscan prepare-data all_idb1)"
        )
    cents = json.loads(cfile.read_text())
    meta = {r["file"]: r for r in read_csv_dicts(data_dir / "image_labels.csv")}
    return [
        Slide(
            data_dir / "images" / split / file,
            int(meta[file]["label"]),
            meta[file]["group"],
            meta[file].get("camera", ""),
            split,
            np.asarray(cents[file].get("blast", []), float).reshape(-1, 2),
            np.asarray(cents[file].get("leukocyte", []), float).reshape(-1, 2),
        )
        for file in sorted(cents)
    ]


def write_cells(
    found: Sequence[tuple[Slide, np.ndarray, Any, str]], out: str | Path, *, margin: float, size: int
) -> Path:
    """Write a prepared cells folder at ``out`` from ``(slide, image, cells, fold)`` tuples.

    ``cells``: grouped detections (:func:`detect_cells`). Crops: square, ``margin`` per side,
    resized to ``size`` px, exactly as :class:`leukoscan.pipeline.infer.cascade.Pipeline` cuts them at inference.
    """
    out = Path(out)
    rows: list[dict[str, Any]] = []
    for slide, image, cells, fold in found:
        labels = cell_labels(cells.xyxy, slide.blasts, slide.leukocytes)
        crops = crop_detections(image, cells.xyxy, margin=margin, size=size) if len(cells) else []
        for k, (crop, lab) in enumerate(zip(crops, labels, strict=True)):
            rel = f"cells/{lab}/{slide.path.stem}_{k:03d}.png"
            write_image(out / rel, crop)
            x1, y1, x2, y2 = (round(float(v), 1) for v in cells.xyxy[k])
            rows.append(
                {
                    "file": rel,
                    "label": lab,
                    "group": slide.group,
                    "split": slide.split,
                    "slide": slide.name,
                    "camera": slide.camera,
                    "fold": fold,
                    "x1": x1,
                    "y1": y1,
                    "x2": x2,
                    "y2": y2,
                    DET_BLAST: round(float(cells.data[DET_BLAST][k]), 5),
                    DET_LEUK: round(float(cells.data[DET_LEUK][k]), 5),
                }
            )
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=INDEX_FIELDS)
    w.writeheader()
    w.writerows(csv_rows(rows))
    atomic_write_text(out / "index.csv", buf.getvalue())
    return out


def read_index(folder: str | Path) -> list[dict[str, str]]:
    return read_csv_dicts(Path(folder) / "index.csv")
