"""The one detection evaluator for every backend: Detections -> COCO results -> pycocotools.

Numbers are COCO's (101-point interpolated AP, ``maxDets`` = 100 or more when images hold
more objects): ``map50`` (AP at IoU 0.5), ``map50_95`` (AP averaged over IoU
0.50:0.05:0.95), per class ``ap50``/``ap``/``recall50``, overall ``recall50`` (mean
over classes of the recall at IoU 0.5) and ``ar100`` (COCO AR@maxDets).

For datasets with centroid ground truth (ALL-IDB1: ``centroids/<split>.json``) it also
computes centroid hits: a centroid of class c is found when it lies inside a predicted
box of class c; each box matches at most one centroid and each centroid at most one box
(maximum one-to-one matching, ties broken by distance to the box centre).
recall = matched centroids / centroids, precision = matched boxes / predicted boxes.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.data.canonical import read_coco
from leukoscan.detect.base import DETECT_CONF, NMS_IOU
from leukoscan.io import read_image
from leukoscan.schema import CLASS_NAME, Detector

if TYPE_CHECKING:
    import supervision as sv


@dataclass
class DetectionMetrics:
    map50: float
    map50_95: float
    recall50: float
    ar100: float
    per_class: dict[str, dict[str, float | int | None]]
    n_images: int
    n_predictions: int
    centroids: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"mAP50 {self.map50:.4f}  mAP50-95 {self.map50_95:.4f}  recall50 {self.recall50:.4f}  "
            f"({self.n_images} images, {self.n_predictions} predictions)"
        ]
        for name, pc in self.per_class.items():
            ap50 = "n/a" if pc["ap50"] is None else f"{pc['ap50']:.4f}"
            ap = "n/a" if pc["ap"] is None else f"{pc['ap']:.4f}"
            lines.append(f"  {name:<12} AP50 {ap50}  AP {ap}  n_gt {pc['n_gt']}")
        for name, c in self.centroids.items():
            lines.append(
                f"  centroid-hit {name}: recall {c['recall']:.4f} ({c['tp']}/{c['n_gt']})  "
                f"precision {c['precision']:.4f} ({c['tp']}/{c['n_pred']})"
            )
        return "\n".join(lines)


def coco_results(gt: dict[str, Any], predictions: dict[int, sv.Detections]) -> list[dict[str, Any]]:
    """``{image_id: sv.Detections}`` -> COCO result dicts (category matched by class name)."""
    cat = {c["name"]: c["id"] for c in gt["categories"]}
    out: list[dict[str, Any]] = []
    for image_id, det in predictions.items():
        if det is None or len(det) == 0:
            continue
        names = det.data.get(CLASS_NAME)
        for k in range(len(det)):
            name = str(names[k])
            if name not in cat:
                continue
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[k])
            score = 1.0 if det.confidence is None else float(det.confidence[k])
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": cat[name],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    return out


def _mean_valid(a: np.ndarray) -> float | None:
    a = a[a > -1]
    return float(a.mean()) if a.size else None


def coco_evaluate(gt: dict[str, Any], results: list[dict[str, Any]]) -> DetectionMetrics:
    """pycocotools evaluation of COCO ``results`` against ground-truth dict ``gt``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = {**gt, "annotations": [{**a, "id": i + 1} for i, a in enumerate(gt["annotations"])]}
    gt.setdefault("info", {})
    names = {c["id"]: c["name"] for c in gt["categories"]}
    n_gt = {cid: 0 for cid in names}
    per_img: dict[int, int] = {}
    for a in gt["annotations"]:
        n_gt[a["category_id"]] += 1
        per_img[a["image_id"]] = per_img.get(a["image_id"], 0) + 1
    per_class = {
        n: {
            "ap50": None if n_gt[c] == 0 else 0.0,
            "ap": None if n_gt[c] == 0 else 0.0,
            "recall50": None if n_gt[c] == 0 else 0.0,
            "n_gt": n_gt[c],
        }
        for c, n in names.items()
    }
    base = dict(
        map50=0.0,
        map50_95=0.0,
        recall50=0.0,
        ar100=0.0,
        per_class=per_class,
        n_images=len(gt["images"]),
        n_predictions=len(results),
    )
    if not results or not gt["annotations"]:
        return DetectionMetrics(**base)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [1, 10, max(100, 2 * max(per_img.values(), default=0))]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec, rec = ev.eval["precision"], ev.eval["recall"]  # [T, R, K, A, M], [T, K, A, M]
    for k, cid in enumerate(ev.params.catIds):
        if n_gt[cid] == 0:
            continue
        per_class[names[cid]].update(
            ap50=_mean_valid(prec[0, :, k, 0, -1]),
            ap=_mean_valid(prec[:, :, k, 0, -1]),
            recall50=_mean_valid(rec[0, k, 0, -1:]),
        )
    r50 = [pc["recall50"] for pc in per_class.values() if pc["recall50"] is not None]
    base.update(
        map50=max(0.0, float(ev.stats[1])),
        map50_95=max(0.0, float(ev.stats[0])),
        ar100=max(0.0, float(ev.stats[8])),
        recall50=float(np.mean(r50)) if r50 else 0.0,
    )
    return DetectionMetrics(**base)


def assign_centroids(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Maximum one-to-one matching of ``points`` (N, 2 ``x, y``) into ``boxes`` (M, 4 xyxy):
    ``(M,)`` index of the point matched to each box, -1 for none. A point matches a box it
    lies inside; among equal-size matchings the one with points nearest the box centres wins."""
    from scipy.optimize import linear_sum_assignment

    points, boxes = np.asarray(points, float).reshape(-1, 2), np.asarray(boxes, float).reshape(-1, 4)
    match = -np.ones(len(boxes), dtype=int)
    if len(points) == 0 or len(boxes) == 0:
        return match
    px, py = points[:, :1], points[:, 1:]
    inside = (px >= boxes[:, 0]) & (px <= boxes[:, 2]) & (py >= boxes[:, 1]) & (py <= boxes[:, 3])
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    dist = np.hypot(px - cx, py - cy)
    cost = np.where(inside, dist / (dist.max() + 1.0), 1e6)  # valid cost < 1 << invalid
    rows, cols = linear_sum_assignment(cost)
    ok = inside[rows, cols]
    match[cols[ok]] = rows[ok]
    return match


def match_centroids(points: np.ndarray, boxes: np.ndarray) -> int:
    """Number of one-to-one matches of ``points`` into ``boxes`` (:func:`assign_centroids`)."""
    return int((assign_centroids(points, boxes) >= 0).sum())


def centroid_hits(
    centroids: dict[str, dict[str, list]],
    predictions: dict[str, sv.Detections],
    sizes: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Centroid-hit recall/precision per class, overall and by image size (camera proxy).

    ``centroids``: ``{file: {class_name: [[x, y], ...]}}`` (pixels); ``predictions``:
    ``{file: sv.Detections}`` already filtered to the operating confidence.
    """
    classes = sorted({c for v in centroids.values() for c in v})
    out: dict[str, Any] = {}
    for cname in classes:
        tot: dict[str, dict[str, int]] = {}
        for file, per_cls in centroids.items():
            pts = np.asarray(per_cls.get(cname, []), float).reshape(-1, 2)
            det = predictions.get(file)
            boxes = (
                np.zeros((0, 4))
                if det is None or len(det) == 0
                else det.xyxy[np.asarray(det.data[CLASS_NAME]) == cname]
            )
            tp = match_centroids(pts, boxes)
            keys = ["all"] + ([f"{sizes[file][1]}x{sizes[file][0]}"] if sizes and file in sizes else [])
            for key in keys:
                t = tot.setdefault(key, {"tp": 0, "n_gt": 0, "n_pred": 0})
                t["tp"] += tp
                t["n_gt"] += len(pts)
                t["n_pred"] += len(boxes)
        res = {
            k: {
                **t,
                "recall": t["tp"] / t["n_gt"] if t["n_gt"] else 0.0,
                "precision": t["tp"] / t["n_pred"] if t["n_pred"] else 0.0,
            }
            for k, t in tot.items()
        }
        out[cname] = {**res.pop("all"), "by_image_size": res}
    return out


def predict_split(
    detector: Detector,
    data_dir: str | Path,
    split: str = "val",
    *,
    conf: float = 0.001,
    iou: float = NMS_IOU,
    tile: int | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = True,
    max_images: int | None = None,
) -> tuple[dict[str, Any], dict[int, Any]]:
    """Predict every image of ``split`` of a prepared dataset once.

    Returns the split's COCO ground truth (cut to ``max_images``) and ``{image_id:
    sv.Detections}``. ``transform`` (image -> image) is applied before predicting.
    """
    from tqdm import tqdm

    data_dir = Path(data_dir)
    gt = read_coco(data_dir, split)
    if max_images:
        images = gt["images"][:max_images]
        ids = {im["id"] for im in images}
        gt = {**gt, "images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in ids]}
    preds: dict[int, sv.Detections] = {}
    # disable=None: tqdm draws on a terminal only, so a log file gets no line per refresh
    for im in tqdm(gt["images"], desc=f"predict {split}", disable=None if progress else True, leave=False):
        img = read_image(data_dir / "images" / split / im["file_name"])
        preds[im["id"]] = detector.predict(transform(img) if transform else img, conf=conf, iou=iou, tile=tile)
    return gt, preds


def split_centroid_hits(
    data_dir: str | Path, split: str, gt: dict[str, Any], preds: dict[int, sv.Detections], conf: float
) -> dict[str, Any]:
    """:func:`centroid_hits` of ``preds`` at operating threshold ``conf`` against the split's
    ``centroids/<split>.json``; ``{}`` when the dataset has no centroid ground truth."""
    cfile = Path(data_dir) / "centroids" / f"{split}.json"
    if not cfile.is_file():
        return {}
    files = {im["id"]: im["file_name"] for im in gt["images"]}
    by_file = {files[i]: (d[d.confidence >= conf] if len(d) else d) for i, d in preds.items()}
    cents = {f: v for f, v in json.loads(cfile.read_text()).items() if f in by_file}
    sizes = {im["file_name"]: (im["height"], im["width"]) for im in gt["images"]}
    out = centroid_hits(cents, by_file, sizes)
    for v in out.values():
        v["conf"] = conf
    return out


def evaluate_detector(
    detector: Detector,
    data_dir: str | Path,
    split: str = "val",
    *,
    conf: float = 0.001,
    iou: float = NMS_IOU,
    tile: int | None = None,
    centroid_conf: float = DETECT_CONF,
    progress: bool = True,
    max_images: int | None = None,
) -> DetectionMetrics:
    """Predict every image of ``split`` of a prepared dataset and evaluate (COCO + centroids)."""
    gt, preds = predict_split(
        detector, data_dir, split, conf=conf, iou=iou, tile=tile, progress=progress, max_images=max_images
    )
    metrics = coco_evaluate(gt, coco_results(gt, preds))
    metrics.centroids = split_centroid_hits(data_dir, split, gt, preds, centroid_conf)
    return metrics


#: The 8 symmetries of the square (dihedral group D4) as (quarter turns, mirrored first).
DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))


def dihedral_image(image: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Mirror left-right (if ``flip``), then rotate by ``k`` quarter turns counter-clockwise."""
    out = image[:, ::-1] if flip else image
    return np.ascontiguousarray(np.rot90(out, k))


def dihedral_boxes(xyxy: np.ndarray, hw: tuple[int, int], k: int, flip: bool) -> np.ndarray:
    """Boxes (N, 4 xyxy pixels) of an ``hw`` image under :func:`dihedral_image`."""
    b = np.asarray(xyxy, dtype=float).reshape(-1, 4).copy()
    h, w = hw
    if flip:
        b[:, [0, 2]] = w - b[:, [2, 0]]
    for _ in range(k % 4):  # one CCW quarter turn: (x, y) -> (y, w - x); the image becomes w x h
        b = np.stack([b[:, 1], w - b[:, 2], b[:, 3], w - b[:, 0]], axis=1)
        h, w = w, h
    return b


def evaluate_orientations(
    detector: Detector,
    data_dir: str | Path,
    split: str = "val",
    *,
    conf: float = 0.001,
    iou: float = NMS_IOU,
    progress: bool = True,
    max_images: int | None = None,
) -> dict[str, DetectionMetrics]:
    """COCO metrics of ``split`` under each of the 8 rotations/mirrorings of the images.

    A smear has no up/down or left/right, so a good detector scores the same on all 8;
    the spread measures how much it learnt an orientation that does not exist.
    Keys: ``"rot0"``, ``"rot90"``, ... and ``"flip_rot0"``, ... (rotation counter-clockwise).
    """
    out: dict[str, DetectionMetrics] = {}
    for k, flip in DIHEDRAL:
        gt, preds = predict_split(
            detector,
            data_dir,
            split,
            conf=conf,
            iou=iou,
            progress=progress,
            max_images=max_images,
            transform=lambda im, k=k, flip=flip: dihedral_image(im, k, flip),
        )
        hw = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
        t_images = [{**im, "height": im["width"], "width": im["height"]} if k % 2 else im for im in gt["images"]]
        t_anns = []
        for a in gt["annotations"]:
            x, y, w, h = a["bbox"]
            b = dihedral_boxes(np.array([[x, y, x + w, y + h]]), hw[a["image_id"]], k, flip)[0]
            t_anns.append({**a, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
        t_gt = {**gt, "images": t_images, "annotations": t_anns}
        out[f"{'flip_' if flip else ''}rot{90 * k}"] = coco_evaluate(t_gt, coco_results(t_gt, preds))
    return out
