"""ALL-IDB1: merging slice duplicates by IoU vs by intersection over the smaller box (IoS).

Scores each detector run on the ALL-IDB1 split with the project's evaluator (sliced
inference, COCO mAP at conf 0.001, blast centroid hits at conf 0.25), once per merge
metric, and writes every figure to one JSON:

    python benchmarks/slice_merge.py --runs runs/bench/bench_allidb1_e30 runs/bench/bench_allidb1_e30_ultralytics \\
        --data-root ../shared/data --out benchmarks/results/detection_all_idb1_e30_merge.json
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="detector run folders")
    p.add_argument("--metrics", nargs="+", default=["IOS", "IOU"], choices=["IOS", "IOU"])
    p.add_argument("--data", default="all_idb1")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    import leukoscan.detect.tiling
    from leukoscan.data import resolve
    from leukoscan.detect.base import NMS_IOU
    from leukoscan.detect.evaluate import evaluate_detector
    from leukoscan.detect.registry import load
    from leukoscan.device import set_cpu_threads
    from leukoscan.io import atomic_write_json

    data_dir = resolve(a.data, data_root=a.data_root)
    out: dict = {
        "data": str(data_dir),
        "split": a.split,
        "nms_iou": NMS_IOU,
        "conf": 0.001,
        "centroid_conf": 0.25,
        "default_metric": leukoscan.detect.tiling.SLICE_MERGE_METRIC,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": {},
    }
    for run in a.runs:
        det = load(run)
        det.threads = set_cpu_threads(a.threads)
        out["runs"][str(run)] = {}
        for metric in a.metrics:
            leukoscan.detect.tiling.SLICE_MERGE_METRIC = metric
            m = evaluate_detector(det, data_dir, a.split, conf=0.001, progress=False).to_dict()
            out["runs"][str(run)][metric] = m
            b = m["centroids"]["blast"]
            print(
                f"{run} {metric}: mAP50 {m['map50']:.3f} mAP50-95 {m['map50_95']:.3f} blast recall {b['recall']:.3f} "
                f"({b['tp']}/{b['n_gt']}) precision {b['precision']:.3f}",
                flush=True,
            )
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_json(a.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
