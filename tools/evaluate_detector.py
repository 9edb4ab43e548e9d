"""Evaluate a trained detector on a dataset split with the one COCO evaluator.

    leukoscan evaluate-detector --weights runs/detect/yolov8n --data bccd --split val
    leukoscan evaluate-detector --weights best.pt --data path/to/voc_or_yolo_or_coco --split test --out m.json

Reports mAP50, mAP50-95, per-class AP50/AP, recall; for ALL-IDB1 also blast centroid-hit
recall and precision. ``--weights`` takes a weights file or a run folder.
``--orientations`` also scores the split under all 8 rotations/mirrorings of the images
(a smear has no orientation: a robust detector scores the same on each).
(``python tools/evaluate_detector.py ...`` is the same command.) Exit code 2 on a missing
model, dataset or split.
"""

from __future__ import annotations

import argparse

from leukoscan.data import resolve
from leukoscan.detect.defaults import DETECT_CONF
from leukoscan.detect.evaluate import evaluate_detector, evaluate_orientations
from leukoscan.detect.registry import load
from leukoscan.device import check_device, resolve_device, set_cpu_threads
from leukoscan.errors import ConfigError
from leukoscan.io import atomic_write_json
from leukoscan.pipeline.infer.settings import MAX_TILE, MIN_TILE
from leukoscan.tools.common import user_errors


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--weights", required=True, help="weights file or run folder")
    p.add_argument("--data", required=True, help="dataset name or folder (canonical, VOC, YOLO or COCO)")
    p.add_argument("--split", default="val")
    p.add_argument("--data-root", dest="data_root", help="where raw datasets live")
    p.add_argument("--out", help="write the metrics JSON here")
    p.add_argument("--conf", type=float, default=0.001, help="score threshold for mAP (default 0.001)")
    p.add_argument(
        "--centroid-conf",
        type=float,
        default=DETECT_CONF,
        help="operating threshold for centroid hits (default: the pipeline's, %(default)s)",
    )
    p.add_argument("--iou", type=float, default=None, help="NMS IoU (default: leukoscan.detect.base.NMS_IOU = 0.6)")
    p.add_argument("--tile", type=int, default=None, help="tile size for sliced inference (0 = never; default auto)")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--orientations", action="store_true", help="also score under the 8 rotations/mirrorings")
    p.add_argument(
        "--trust-model",
        action="store_true",
        help="also load model files that can run code when loaded (README, Safety)",
    )
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    check_device(a.device)
    if a.tile is not None and a.tile != 0 and not MIN_TILE <= a.tile <= MAX_TILE:
        raise ConfigError(f"--tile must be 0 (never) or {MIN_TILE}-{MAX_TILE} pixels, got {a.tile}")
    det = load(a.weights, trust=a.trust_model)
    data_dir = resolve(a.data, data_root=a.data_root)
    det.threads = set_cpu_threads()
    det.to(resolve_device(a.device))
    nms = {} if a.iou is None else {"iou": a.iou}
    m = evaluate_detector(
        det, data_dir, a.split, conf=a.conf, tile=a.tile, **nms, centroid_conf=a.centroid_conf, max_images=a.max_images
    )
    print(f"{det.name} on {data_dir} [{a.split}]")
    print(m.summary())
    extra = {}
    if a.orientations:
        ors = evaluate_orientations(det, data_dir, a.split, conf=a.conf, max_images=a.max_images, **nms)
        extra["orientations"] = {k: v.to_dict() for k, v in ors.items()}
        print("orientation   mAP50   mAP50-95")
        for k, v in ors.items():
            print(f"{k:<12} {v.map50:.4f}  {v.map50_95:.4f}")
        vals = [v.map50 for v in ors.values()]
        print(f"mAP50 over 8 orientations: mean {sum(vals) / len(vals):.4f}, min {min(vals):.4f}, max {max(vals):.4f}")
    if a.out:
        atomic_write_json(
            a.out, {"weights": str(a.weights), "data": str(data_dir), "split": a.split, **m.to_dict(), **extra}
        )
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
