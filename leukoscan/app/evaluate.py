"""End-to-end evaluation on ALL-IDB1: cells against centroids, slides against labels.

Reads a prepared ``all_idb1`` folder (``images/<split>/``, ``centroids/<split>.json``,
``image_labels.csv``). Per cell: a blast centroid is found when it lies inside a box the
pipeline called a blast (``pipeline.cfg.blast_class``; one-to-one matching, :func:`leukoscan.detect.evaluate.match_centroids`).
Per slide: ALL is called when the slide is flagged (blast % >= ``threshold_pct``).
Everything is also reported per image size (the two ALL-IDB1 cameras/magnifications),
because camera predicts the label in ALL-IDB1 (shortcut risk).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from leukoscan.app.pipeline import Pipeline
from leukoscan.app.report import summarize
from leukoscan.classify.metrics import wilson
from leukoscan.detect.evaluate import match_centroids
from leukoscan.errors import DataError
from leukoscan.io import read_image
from leukoscan.schema import CELL_CLASS


def _slide_row(pipeline: Pipeline, data_dir: Path, split: str, file: str, cents: dict[str, list],
               label: int, threshold_pct: float) -> dict[str, Any]:
    image = read_image(data_dir / "images" / split / file)
    det = pipeline(image)
    blast = pipeline.cfg.blast_class
    blast_boxes = det.xyxy[np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast] \
        if len(det) else np.zeros((0, 4))
    pts = np.asarray(cents.get(blast, []), float).reshape(-1, 2)
    n_true_cells = len(pts) + len(cents.get("leukocyte", []))
    s = summarize(det, image=file, image_hw=image.shape[:2], threshold_pct=threshold_pct, blast_class=blast)
    true_pct = 100.0 * len(pts) / n_true_cells if n_true_cells else 0.0
    return {"file": file, "size": f"{image.shape[1]}x{image.shape[0]}", "label": label,
            "n_blast_centroids": len(pts), "n_pred_blasts": len(blast_boxes),
            "blast_hits": match_centroids(pts, blast_boxes), "leukocytes": s.leukocytes,
            "blast_pct": s.blast_pct or 0.0, "true_blast_pct": round(true_pct, 2),
            "blast_pct_abs_error": round(abs((s.blast_pct or 0.0) - true_pct), 2),
            "called_all": int(s.flagged)}


def _aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    hits = sum(r["blast_hits"] for r in rows)
    n_gt = sum(r["n_blast_centroids"] for r in rows)
    n_pred = sum(r["n_pred_blasts"] for r in rows)
    pos = [r for r in rows if r["label"] == 1]
    neg = [r for r in rows if r["label"] == 0]
    return {
        "slides": len(rows), "all_slides": len(pos), "healthy_slides": len(neg),
        "cell_blast_recall": wilson(hits, n_gt).to_dict(),
        "cell_blast_precision": wilson(hits, n_pred).to_dict(),
        "slide_sensitivity": wilson(sum(r["called_all"] for r in pos), len(pos)).to_dict(),
        "slide_specificity": wilson(sum(1 - r["called_all"] for r in neg), len(neg)).to_dict(),
        "blast_pct_mae": round(float(np.mean([r["blast_pct_abs_error"] for r in rows])), 2) if rows else None,
    }


def evaluate_pipeline(pipeline: Pipeline, data_dir: str | Path, split: str = "val", *,
                      threshold_pct: float = 20.0, progress: bool = True) -> dict[str, Any]:
    """-> ``{"overall": {...}, "by_image_size": {"WxH": {...}}, "slides": [rows]}``."""
    data_dir = Path(data_dir)
    cfile = data_dir / "centroids" / f"{split}.json"
    if not cfile.is_file():
        raise DataError(f"{cfile}: not a prepared ALL-IDB1 folder with a {split!r} split "
                        f"(run: leukoscan prepare-data all_idb1)")
    cents = json.loads(cfile.read_text())
    with open(data_dir / "image_labels.csv", newline="") as f:
        labels = {r["file"]: int(r["label"]) for r in csv.DictReader(f)}
    rows = [_slide_row(pipeline, data_dir, split, file, cents[file], labels[file], threshold_pct)
            for file in tqdm(sorted(cents), desc=f"slides ({split})", disable=not progress)]
    sizes = sorted({r["size"] for r in rows})
    return {"split": split, "threshold_pct": threshold_pct, "overall": _aggregate(rows),
            "by_image_size": {s: _aggregate([r for r in rows if r["size"] == s]) for s in sizes},
            "slides": rows}
