"""Training records of a detection run from its final validation predictions.

:func:`write_records` writes into ``<run>/plots/``: ``curves.png`` (losses, lr and metrics
per epoch from ``metrics.csv``), ``pr_curve.png`` (IoU 0.5, per class, pycocotools),
``confusion_matrix.png`` (IoU 0.5, score >= 0.25, with a background row/column;
``supervision.ConfusionMatrix``) and ``val_predictions.jpg`` (ground truth next to the
predictions for a few validation images). It returns what W&B logs as well.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan import plots
from leukoscan.detect.evaluate import coco_results
from leukoscan.io import read_image
from leukoscan.schema import CLASS_NAME

CM_CONF, CM_IOU = 0.25, 0.5
PALETTE = [(230, 25, 75), (60, 120, 230), (60, 180, 75), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


@dataclass
class Records:
    files: dict[str, Path]
    pr: dict[str, tuple[np.ndarray, np.ndarray]]  # class -> (recall, precision) at IoU 0.5
    confusion: np.ndarray  # (K+1, K+1), rows truth, cols prediction, last = background
    names: list[str]  # class names + "background"
    samples: list[tuple[str, np.ndarray, Any, Any]]  # (file, RGB image, ground truth, predictions)


def gt_detections(gt: dict[str, Any], image_id: int, names: list[str]) -> Any:
    """Ground-truth boxes of one image as ``sv.Detections`` (class ids index ``names``)."""
    import supervision as sv

    cat = {c["id"]: c["name"] for c in gt["categories"]}
    anns = [a for a in gt["annotations"] if a["image_id"] == image_id and cat[a["category_id"]] in names]
    if not anns:
        d = sv.Detections.empty()
        d.data[CLASS_NAME] = np.array([], dtype=object)
        return d
    xywh = np.array([a["bbox"] for a in anns], np.float32)
    cls = [cat[a["category_id"]] for a in anns]
    return sv.Detections(
        xyxy=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
        class_id=np.array([names.index(c) for c in cls]),
        data={CLASS_NAME: np.array(cls, dtype=object)},
    )


def pr_curves(gt: dict[str, Any], preds: dict[int, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-class precision at 101 recall points, IoU 0.5, all areas, most detections (pycocotools)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = coco_results(gt, preds)
    gt = {**gt, "annotations": [{**a, "id": i + 1} for i, a in enumerate(gt["annotations"])], "info": {}}
    if not results or not gt["annotations"]:
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
    names = {c["id"]: c["name"] for c in gt["categories"]}
    prec = ev.eval["precision"]  # [T, R, K, A, M]
    return {names[cid]: (ev.params.recThrs, prec[0, :, k, 0, -1]) for k, cid in enumerate(ev.params.catIds)}


def _draw(image: np.ndarray, det: Any, names: list[str], scores: bool) -> np.ndarray:
    import cv2

    out = image.copy()
    t = max(1, round(max(image.shape[:2]) / 300))
    for i in range(len(det)):
        x1, y1, x2, y2 = det.xyxy[i].round().astype(int)
        k = int(det.class_id[i]) if det.class_id is not None else 0
        col = PALETTE[k % len(PALETTE)]
        cv2.rectangle(out, (x1, y1), (x2, y2), col, t)
        text = names[k] + (f" {float(det.confidence[i]):.2f}" if scores and det.confidence is not None else "")
        cv2.putText(out, text, (x1, max(10, y1 - 3)), 0, 0.4 * t, col, t, cv2.LINE_AA)
    return out


def write_records(
    run_dir: Path,
    data_dir: Path,
    split: str,
    gt: dict[str, Any],
    preds: dict[int, Any],
    class_names: list[str],
    *,
    n_samples: int = 4,
) -> Records:
    """Write the plots of the module docstring; return them with the data behind them."""
    import supervision as sv

    pdir = Path(run_dir) / "plots"
    files: dict[str, Path] = {}
    curves = plots.plot_curves(Path(run_dir) / "metrics.csv", pdir / "curves.png")
    if curves:
        files["curves"] = curves
    pr = pr_curves(gt, preds)
    if pr:
        files["pr_curve"] = plots.plot_pr(pr, pdir / "pr_curve.png", title=f"PR curve, {split}, IoU 0.5")
    ids = [im["id"] for im in gt["images"]]
    targets = [gt_detections(gt, i, class_names) for i in ids]
    cm = sv.ConfusionMatrix.from_detections(
        predictions=[preds[i] for i in ids],
        targets=targets,
        classes=class_names,
        conf_threshold=CM_CONF,
        iou_threshold=CM_IOU,
    )
    names = [*class_names, "background"]
    files["confusion_matrix"] = plots.plot_confusion(
        cm.matrix, names, pdir / "confusion_matrix.png", title=f"{split}: IoU {CM_IOU}, score >= {CM_CONF}"
    )
    samples, tiles, caps = [], [], []
    for im, target in list(zip(gt["images"], targets, strict=True))[:n_samples]:
        img = read_image(Path(data_dir) / "images" / split / im["file_name"])
        pred = preds[im["id"]]
        pred = pred[pred.confidence >= CM_CONF] if len(pred) else pred
        samples.append((im["file_name"], img, target, pred))
        tiles += [_draw(img, target, class_names, False), _draw(img, pred, class_names, True)]
        caps += [f"{im['file_name']}: ground truth", f"{im['file_name']}: predicted (score >= {CM_CONF})"]
    if tiles:
        files["val_predictions"] = plots.image_grid(tiles, caps, pdir / "val_predictions.jpg", cols=2)
    return Records(files, pr, cm.matrix, names, samples)
