"""The detector's verdict at the end of training: how many white cells of val it finds.

A white cell (ground-truth box of a leukocyte class) counts as found when a predicted box
of any leukocyte class scored >= ``conf`` overlaps it with IoU >= 0.5 (greedy one-to-one
matching, highest scores first). Class-agnostic among leukocyte classes: calling a blast
``leukocyte`` still finds the cell. Data without a leukocyte class are judged on every class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.schema import CLASS_NAME, DETECT_CONF
from leukoscan.verdict import LEUKOCYTE_CLASSES, Verdict, detector_verdict

if TYPE_CHECKING:
    import supervision as sv


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of ``a`` (N, 4) and ``b`` (M, 4) xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def found_cells(
    gt: dict[str, Any],
    preds: dict[int, sv.Detections],
    *,
    conf: float = DETECT_CONF,
    iou: float = 0.5,
    classes: tuple[str, ...] = LEUKOCYTE_CLASSES,
) -> tuple[int, int, str]:
    """``(found, total, what)`` over the split's ground truth (COCO dict) and ``{image_id: Detections}``."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    wanted = {cid for cid, n in names.items() if n in classes}
    what = "white cells" if wanted else "objects"
    wanted = wanted or set(names)
    found = total = 0
    for im in gt["images"]:
        boxes = np.array(
            [
                [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                for a in gt["annotations"]
                if a["image_id"] == im["id"] and a["category_id"] in wanted
            ],
            float,
        ).reshape(-1, 4)
        total += len(boxes)
        det = preds.get(im["id"])
        if det is None or len(det) == 0 or len(boxes) == 0:
            continue
        keep = np.asarray(det.confidence) >= conf
        if CLASS_NAME in det.data:
            keep &= np.isin(np.asarray(det.data[CLASS_NAME], dtype=object), [names[c] for c in wanted])
        pb, ps = np.asarray(det.xyxy, float)[keep], np.asarray(det.confidence)[keep]
        m = _iou(pb[np.argsort(-ps)], boxes) if len(pb) else np.zeros((0, len(boxes)))
        free = np.ones(len(boxes), bool)
        for row in m:
            j = int(np.argmax(np.where(free, row, -1))) if free.any() else -1
            if j >= 0 and free[j] and row[j] >= iou:
                free[j] = False
        found += int((~free).sum())
    return found, total, what


def training_verdict(gt: dict[str, Any], preds: dict[int, sv.Detections], ap50: float | None) -> Verdict:
    """:func:`leukoscan.verdict.detector_verdict` of a model's val predictions."""
    found, total, what = found_cells(gt, preds)
    return detector_verdict(found, total, what=what, ap50=ap50)


__all__ = ["found_cells", "training_verdict"]
