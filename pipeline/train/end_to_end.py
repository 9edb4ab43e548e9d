"""End-to-end evaluation on ALL-IDB1: cells against centroids, slides against labels.

Reads a prepared ``all_idb1`` folder (``images/<split>/``, ``centroids/<split>.json``,
``image_labels.csv``). Per cell: a blast centroid is found when it lies inside a box the
pipeline called a blast (``pipeline.cfg.blast_class``; one-to-one matching,
:func:`leukoscan.detect.evaluate.match_centroids`).
Per slide: ALL is called when the slide is flagged (blast % >= ``flag_pct``: the point
estimate, any number of cells, :data:`POINT_RULE`; the rule the benchmarks were measured with.
``infer``'s default rule adds a minimum of cells and uses the lower bound).
Everything is also reported per camera (image size: the two ALL-IDB1 cameras/magnifications),
because camera predicts the label in ALL-IDB1 (shortcut risk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from leukoscan.classify.metrics import wilson
from leukoscan.detect.evaluate import match_centroids
from leukoscan.io import read_image
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.seam import cell_labels
from leukoscan.pipeline.report.summary import SlideRules, summarize
from leukoscan.pipeline.train.cells import Slide, read_slides
from leukoscan.schema import CELL_CLASS

CAMERAS = {"1712x1368": "Olympus 1712x1368", "2592x1944": "Canon 2592x1944"}


#: The slide call scored here (``flag_pct`` is set per call): point estimate, no minimum of cells.
POINT_RULE = SlideRules(min_cells=1, flag_rule="point")


def _slide_row(pipeline: Pipeline, slide: Slide, flag_pct: float) -> dict[str, Any]:
    blast_class, file = pipeline.cfg.blast_class, slide.name
    image = read_image(slide.path)
    det = pipeline(image)
    called = np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast_class
    blast_boxes = det.xyxy[called] if len(det) else np.zeros((0, 4))
    pts, leuk, label = slide.blasts, slide.leukocytes, slide.label
    truth = cell_labels(det.xyxy, pts, leuk) if len(det) else np.zeros(0, dtype=object)
    n_true_cells = len(pts) + len(leuk)
    s = summarize(
        det,
        image=file,
        image_hw=image.shape[:2],
        flag_pct=flag_pct,
        blast_class=blast_class,
        call_by=pipeline.call_by,
        rules=POINT_RULE,
    )
    true_pct = 100.0 * len(pts) / n_true_cells if n_true_cells else 0.0
    return {
        "file": file,
        "size": f"{image.shape[1]}x{image.shape[0]}",
        "label": label,
        "n_blast_centroids": len(pts),
        "n_leukocyte_centroids": len(leuk),
        "n_pred_blasts": len(blast_boxes),
        "blast_hits": match_centroids(pts, blast_boxes),
        "normal_found": int(np.sum(truth == "normal")),
        "normal_called_normal": int(np.sum((truth == "normal") & ~called)),
        "leukocytes": s.leukocytes,
        "true_leukocytes": n_true_cells,
        "count_rel_error": round(abs(s.leukocytes - n_true_cells) / n_true_cells, 4) if n_true_cells else None,
        "blast_pct": s.blast_pct or 0.0,
        "true_blast_pct": round(true_pct, 2),
        "blast_pct_abs_error": round(abs((s.blast_pct or 0.0) - true_pct), 2),
        "called_all": int(s.flagged),
    }


def _mean_ci(values: list[float], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean with a 95% percentile-bootstrap interval over slides (:func:`scipy.stats.bootstrap`)."""
    from scipy.stats import bootstrap

    v = np.asarray(values, float)
    if len(v) == 0:
        return {"value": None, "lo": None, "hi": None, "n": 0}
    if np.ptp(v) == 0:  # every slide the same: the interval is the value (bootstrap needs spread)
        lo = hi = float(v[0])
    else:
        ci = bootstrap(
            (v,),
            np.mean,
            n_resamples=n_boot,
            method="percentile",
            confidence_level=0.95,
            random_state=np.random.default_rng(seed),
        ).confidence_interval
        lo, hi = float(ci.low), float(ci.high)
    return {"value": round(float(v.mean()), 2), "lo": round(lo, 2), "hi": round(hi, 2), "n": len(v)}


def _prop(k: int, n: int) -> dict[str, Any]:
    """``k / n`` with its Wilson 95% interval, ``k`` and ``n``."""
    return {**wilson(int(k), int(n)).to_dict(), "k": int(k), "n": int(n)}


#: The blast figures of :func:`_aggregate`; "not assessed" (None) when no blast call was made.
BLAST_FIGURES = (
    "cell_blast_recall",
    "cell_blast_precision",
    "cell_specificity",
    "slide_sensitivity",
    "slide_specificity",
    "blast_pct_mae",
)


def _aggregate(rows: list[dict[str, Any]], assessed: bool = True) -> dict[str, Any]:
    """Figures of a group of slides; with ``assessed=False`` (a count-only pipeline: no blast
    calls) the blast figures are None, never the 0 recall / true-% error an absent call would give."""
    hits = sum(r["blast_hits"] for r in rows)
    n_gt = sum(r["n_blast_centroids"] for r in rows)
    n_pred = sum(r["n_pred_blasts"] for r in rows)
    pos = [r for r in rows if r["label"] == 1]
    neg = [r for r in rows if r["label"] == 0]
    counted = [r for r in rows if r["count_rel_error"] is not None]
    out = {
        "slides": len(rows),
        "all_slides": len(pos),
        "healthy_slides": len(neg),
        "cell_blast_recall": _prop(hits, n_gt),
        "cell_blast_precision": _prop(hits, n_pred),
        "cell_specificity": _prop(sum(r["normal_called_normal"] for r in rows), sum(r["normal_found"] for r in rows)),
        "slide_sensitivity": _prop(sum(r["called_all"] for r in pos), len(pos)),
        "slide_specificity": _prop(sum(1 - r["called_all"] for r in neg), len(neg)),
        "blast_pct_mae": _mean_ci([r["blast_pct_abs_error"] for r in rows]),
        "count_within_10pct": _prop(sum(r["count_rel_error"] <= 0.10 for r in counted), len(counted)),
        "count_rel_error_mean": _mean_ci([100 * r["count_rel_error"] for r in counted]),
    }
    return out if assessed else {**out, **dict.fromkeys(BLAST_FIGURES)}


def evaluate_pipeline(
    pipeline: Pipeline,
    data_dir: str | Path,
    split: str = "val",
    *,
    rules: SlideRules | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """-> ``{"overall": {...}, "by_camera": {name: {...}}, "slides": [rows]}``.

    Per group: cell blast recall/precision (centroid in a box called blast, one-to-one),
    cell specificity (annotated normal leukocytes found and called normal), slide
    sensitivity/specificity at ``flag_pct``, blast % MAE and leukocyte-count relative
    error (mean with bootstrap 95% CI over slides), share of slides counted within 10%.
    """
    flag_pct = (rules or SlideRules()).flag_pct
    slides = read_slides(data_dir, split)
    rows = [
        _slide_row(pipeline, slide, flag_pct) for slide in tqdm(slides, desc=f"slides ({split})", disable=not progress)
    ]
    sizes = sorted({r["size"] for r in rows})
    assessed = pipeline.call_by != "count"
    return {
        "split": split,
        "flag_pct": flag_pct,
        "call_by": pipeline.call_by,
        "blasts_assessed": assessed,
        "overall": _aggregate(rows, assessed),
        "by_camera": {CAMERAS.get(s, s): _aggregate([r for r in rows if r["size"] == s], assessed) for s in sizes},
        "slides": rows,
    }
