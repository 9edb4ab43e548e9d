"""End-to-end evaluation of the type stage on full fields with typed white cells (BCCD).

Ground truth: BCCD's WBC boxes with the per-image type of ``wbc_subtypes.csv`` (read as
:mod:`leukoscan.data.bccd_types` reads it: images naming several types, or none, are left
out of the scoring and counted). For each image of the split:

- cells: the pipeline's detections (detector -> blast stage -> type stage), or, with
  ``gt_boxes=True``, the annotated WBC boxes themselves (the crop step without a detector;
  say so next to the figures);
- each typed ground-truth box is matched one-to-one to the detection of highest IoU
  (>= ``iou``); an unmatched box counts as ``missed``, a cell the type stage left untyped
  as ``untyped`` (both are errors in the per-cell accuracy);
- per cell: accuracy and per-class recall (95% Wilson CIs, n) over the typed ground-truth
  cells; confusion matrix (rows truth, columns prediction incl. ``missed``/``untyped``);
- per image: the differential error in points (mean over types of |predicted % - true %|,
  over the image's matched cells) and agreement (every typed cell of the image right);
- pooled: the differential of all the split's cells, predicted against true, per type in
  points (a missed or untyped cell counts in the true differential only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan import classify
from leukoscan.classify.metrics import multiclass_report, wilson
from leukoscan.data import read_detection
from leukoscan.data.bccd import read_split_list
from leukoscan.data.bccd_types import SUBTYPES_CSV, WBC, read_subtypes
from leukoscan.data.voc import find_image, parse_voc
from leukoscan.errors import ConfigError
from leukoscan.io import read_image
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.cell_types import assign_types, type_probs
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.infer.sources import model_source
from leukoscan.pipeline.report.differential import UNTYPED, differential
from leukoscan.schema import CELL_TYPE

MISSED = "missed"


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, 4)`` x ``(M, 4)`` xyxy -> ``(N, M)`` IoU."""
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def match(truth: np.ndarray, pred: np.ndarray, iou: float) -> list[int | None]:
    """Greedy one-to-one matching by IoU: for each truth box the index of its detection or None."""
    out: list[int | None] = [None] * len(truth)
    if not len(truth) or not len(pred):
        return out
    m = _iou(np.asarray(truth, float), np.asarray(pred, float))
    for _ in range(min(m.shape)):
        i, j = np.unravel_index(np.argmax(m), m.shape)
        if m[i, j] < iou:
            break
        out[int(i)] = int(j)
        m[i, :], m[:, j] = -1, -1
    return out


def _cells(pipeline: Pipeline, image: np.ndarray, boxes: np.ndarray, gt_boxes: bool) -> Any:
    if not gt_boxes:
        return pipeline(image)
    import supervision as sv

    det = sv.Detections(xyxy=np.asarray(boxes, np.float32).reshape(-1, 4), confidence=np.ones(len(boxes), np.float32))
    clf = pipeline.type_classifier
    return assign_types(det, type_probs(image, det, clf, margin=pipeline.cfg.type_margin), clf.class_names)


def _image_diff_error(truth: list[str], pred: list[str]) -> float:
    """Mean over the types present in either list of |% predicted - % true| (points)."""
    kinds = sorted(set(truth) | set(pred))
    t, p = np.array(truth, dtype=object), np.array(pred, dtype=object)
    return float(np.mean([abs(100 * np.mean(p == k) - 100 * np.mean(t == k)) for k in kinds]))


def evaluate_types(
    pipeline: Pipeline, bccd: str | Path, split: str = "val", *, gt_boxes: bool = False, iou: float = 0.5
) -> dict[str, Any]:
    """Per-cell and per-image figures of the type stage on BCCD ``split`` (see the module docstring)."""
    if pipeline.type_classifier is None:
        raise ConfigError("evaluating the differential needs a type classifier (--type-classifier RUN)")
    bccd = Path(bccd)
    types = read_subtypes(bccd / SUBTYPES_CSV)
    truth_all: list[str] = []
    pred_all: list[str] = []
    images: list[dict[str, Any]] = []
    left_out = {"mixed_or_no_type_boxes": 0, "images": 0}
    for stem in read_split_list(bccd / "ImageSets" / "Main" / f"{split}.txt"):
        path = find_image(bccd / "JPEGImages", stem)
        if path is None:
            continue
        ann = parse_voc(bccd / "Annotations" / f"{stem}.xml")
        boxes = ann.boxes[[i for i, n in enumerate(ann.labels) if n == WBC and not ann.degenerate[i]]]
        named = types.get(stem) or []
        if len(set(named)) != 1:
            left_out["mixed_or_no_type_boxes"] += len(boxes)
            left_out["images"] += 1
            continue
        if not len(boxes):
            continue
        det = _cells(pipeline, read_image(path), boxes, gt_boxes)
        hit = match(boxes, det.xyxy, iou)
        got = [MISSED if j is None else (str(det.data[CELL_TYPE][j]) or UNTYPED) for j in hit]
        truth = [named[0]] * len(boxes)
        truth_all += truth
        pred_all += got
        images.append(
            {
                "image": stem,
                "truth": named[0],
                "cells": len(boxes),
                "pred": got,
                "detections": len(det),
                "agree": all(g == named[0] for g in got),
                "diff_error_pts": round(_image_diff_error(truth, got), 2),
            }
        )
    names = tuple(sorted(set(truth_all))) + tuple(sorted(set(pred_all) - set(truth_all)))
    rep = multiclass_report(
        np.array([names.index(t) for t in truth_all], int), np.array([names.index(p) for p in pred_all], int), names
    )
    rep_d = rep.to_dict()
    rep_d["recall"] = {k: v for k, v in rep_d["recall"].items() if v["n"]}  # truth classes only
    agree = sum(r["agree"] for r in images)
    true_d, pred_d = differential(truth_all), differential([p for p in pred_all if p not in (MISSED, UNTYPED)])
    pooled = {}
    for r in true_d.rows:
        pr = pred_d.row(r.type)
        if r.count or (pr is not None and pr.count):
            pooled[r.type] = {"true_pct": r.pct, "pred_pct": None if not pred_d.counted else pr.pct if pr else 0.0}
    for v in pooled.values():
        v["abs_error_pts"] = None if v["pred_pct"] is None else round(abs(v["pred_pct"] - v["true_pct"]), 2)
    return {
        "split": split,
        "cells_from": "ground-truth WBC boxes" if gt_boxes else "the detector",
        "n_cells": len(truth_all),
        "n_images": len(images),
        "left_out": left_out,
        "per_cell": rep_d,
        "per_image": {
            "agreement": wilson(agree, len(images)).to_dict() | {"k": agree, "n": len(images)},
            "diff_error_pts_mean": round(float(np.mean([r["diff_error_pts"] for r in images])), 2) if images else None,
        },
        "pooled_differential": {
            "types": pooled,
            "cells_true": true_d.counted,
            "cells_typed": pred_d.counted,
            "mean_abs_error_pts": round(float(np.mean([v["abs_error_pts"] for v in pooled.values()])), 2)
            if pooled and pred_d.counted
            else None,
        },
        "images": images,
    }


def type_shares(pipeline: Pipeline, folder: str | Path, split: str = "val") -> dict[str, Any]:
    """Types given to annotated cells of a prepared detection folder without type ground truth
    (ALL-IDB1: ``leukocyte`` = annotated non-blast leukocytes, ``blast``): count and share
    (95% Wilson CI) of each type per annotated class. Reported, not scored: there is no truth."""
    by_class: dict[str, list[str]] = {}
    recs = read_detection(folder, split)
    for rec in recs:
        if not len(rec.boxes):
            continue
        image = read_image(rec.path)
        det = _cells(pipeline, image, rec.boxes, True)
        for lab, t in zip(rec.labels, det.data[CELL_TYPE], strict=True):
            by_class.setdefault(lab, []).append(str(t) or UNTYPED)
    out: dict[str, Any] = {"split": split, "images": len(recs), "cells_from": "annotated boxes"}
    for lab, got in sorted(by_class.items()):
        kinds = sorted(set(got))
        out[lab] = {
            "n": len(got),
            "types": {k: {"count": got.count(k), **wilson(got.count(k), len(got)).to_dict()} for k in kinds},
        }
    return out


def type_stage_only(type_classifier: str | Path, cfg: Any = None, *, trust: bool = False) -> Pipeline:
    """A pipeline holding only the type stage (for ``gt_boxes=True``: no detector, no blast stage)."""
    cfg = dataclasses.replace(cfg or PipelineConfig(), type_classifier=str(type_classifier))
    clf = classify.load(type_classifier, trust=trust)
    pipe = Pipeline(None, None, cfg, type_classifier=clf)  # type: ignore[arg-type]
    pipe.sources["type_classifier"] = model_source("type_classifier", type_classifier, clf.name)
    return pipe


__all__ = ["evaluate_types", "match", "type_shares", "type_stage_only"]
