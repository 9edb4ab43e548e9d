"""ALL-IDB1 blast centroid-hit recall/precision of trained detectors at several operating thresholds.

Predicts each slide of the split once (``leukoscan.detect.evaluate.predict_split``: conf 0.001, NMS
IoU 0.6 as in the evaluator, sliced inference as the detector decides) and scores centroid
hits at every ``--conf`` value. The thresholds are looked at on the same split, so this shows a
detector's recall/precision trade-off; it is not an
unbiased estimate of any one operating point.

    python benchmarks/centroid_sweep.py --runs runs/bench/bench_allidb1_e30 --data-root ../shared/data \\
        --out benchmarks/results/detection_all_idb1_sweep.json
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="detector run folders or weights")
    p.add_argument("--data", default="all_idb1")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--conf", type=float, nargs="+", default=[0.25, 0.1, 0.05])
    p.add_argument(
        "--iou", type=float, default=None, help="NMS IoU (default: the evaluator's, leukoscan.detect.base.NMS_IOU)"
    )
    p.add_argument("--tile", type=int, default=None, help="slice size (default: the detector's own choice)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    from leukoscan.data import resolve
    from leukoscan.detect.base import NMS_IOU
    from leukoscan.detect.evaluate import predict_split, split_centroid_hits
    from leukoscan.detect.registry import load
    from leukoscan.device import set_cpu_threads
    from leukoscan.io import atomic_write_json

    data_dir = resolve(a.data, data_root=a.data_root)
    iou = NMS_IOU if a.iou is None else a.iou  # not `a.iou or ...`: --iou 0 is a value
    out: dict = {
        "data": str(data_dir),
        "split": a.split,
        "nms_iou": iou,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": {},
    }
    for run in a.runs:
        det = load(run)
        det.threads = set_cpu_threads(a.threads)
        gt, preds = predict_split(det, data_dir, a.split, conf=0.001, iou=iou, tile=a.tile)
        res = {}
        for c in a.conf:
            res[str(c)] = split_centroid_hits(data_dir, a.split, gt, preds, c)
            b = res[str(c)]["blast"]
            print(
                f"{run} conf {c}: blast recall {b['recall']:.3f} ({b['tp']}/{b['n_gt']}) "
                f"precision {b['precision']:.3f}",
                flush=True,
            )
        out["runs"][str(run)] = res
    atomic_write_json(a.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
