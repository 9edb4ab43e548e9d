#!/usr/bin/env python
"""Per-image inference time: LeukoScan pipeline (detection + classification) vs raw ultralytics.

Same detector weights, same images, same thread count, same run. For each image size
(BCCD val 640x480; ALL-IDB1 dev-val 2592x1944) it times, after a warm-up:
  * ``raw``: ``ultralytics.YOLO(weights).predict(image)`` (whole image, no tiling),
  * ``detect``: our detector's ``predict`` (tiles large slides automatically),
  * ``pipeline``: detection + crops + classifier, what ``tools/infer.py`` runs per image,
and the ratio pipeline / raw. Then images per second of the full batch runner (reading,
both stages, writing PNG/CSV/JSON/HTML) on a folder of BCCD val images.

    python benchmarks/inference.py --detector runs/detect/<name> --classifier runs/classify/<name> \
        --data-root ../shared/data [--threads 2] [--n 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _times(fn, images, repeats: int) -> list[float]:
    fn(images[0])  # warm-up
    out = []
    for _ in range(repeats):
        for im in images:
            t = time.perf_counter()
            fn(im)
            out.append(time.perf_counter() - t)
    return out


def _stats(ts: list[float]) -> dict:
    return {
        "median_ms": round(1000 * statistics.median(ts), 1),
        "mean_ms": round(1000 * statistics.mean(ts), 1),
        "n": len(ts),
    }


def bench_size(pipe, raw, images, repeats: int, threads: int) -> dict:
    import numpy as np
    import torch

    det = pipe.detector

    def raw_fn(im):
        out = raw.predict(
            np.ascontiguousarray(im[..., ::-1]),
            imgsz=det.meta.imgsz,
            conf=pipe.cfg.conf,
            iou=pipe.cfg.iou,
            verbose=False,
            device="cpu",
        )
        torch.set_num_threads(threads)  # ultralytics' predictor setup resets it to cores - 1
        return out

    res = {
        "raw_ultralytics": _stats(_times(raw_fn, images, repeats)),
        "detect": _stats(_times(pipe.detect, images, repeats)),
        "pipeline": _stats(_times(pipe, images, repeats)),
    }
    res["ratio_pipeline_over_raw"] = round(res["pipeline"]["median_ms"] / res["raw_ultralytics"]["median_ms"], 3)
    res["ratio_detect_over_raw"] = round(res["detect"]["median_ms"] / res["raw_ultralytics"]["median_ms"], 3)
    res["cells_per_image"] = round(sum(len(pipe(im)) for im in images) / len(images), 2)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", required=True)
    ap.add_argument("--detector-large", help="detector for the 2592x1944 slides (default: --detector)")
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--data-root", required=True, help="folder with BCCD/ and ALL_IDB/")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=20, help="640x480 images to time")
    ap.add_argument("--n-large", type=int, default=4, help="2592x1944 slides to time")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/inference_cpu.json")
    args = ap.parse_args()

    import os

    os.environ.setdefault("YOLO_OFFLINE", "1")
    import torch

    from leukoscan import detect
    from leukoscan.io import read_image
    from leukoscan.pipeline.batch.runner import run_batch
    from leukoscan.pipeline.infer.cascade import load_pipeline

    torch.set_num_threads(args.threads)

    def setup(det_path):
        pipe = load_pipeline(det_path, args.classifier)
        pipe.detector.threads = args.threads
        # Raw baseline: a separate ultralytics YOLO object on the same weights (taken from
        # the adapter, the only place that imports ultralytics), called with its own predict().
        return pipe, detect.load(det_path).model

    pipe, raw = setup(args.detector)
    root = Path(args.data_root)
    val = (root / "BCCD/ImageSets/Main/val.txt").read_text().split()[: args.n]
    small = [root / f"BCCD/JPEGImages/{s}.jpg" for s in val]
    large = sorted(p for p in (root / "ALL_IDB/ALL_IDB1/im").glob("*.jpg") if read_image(p).shape[:2] == (1944, 2592))
    dev_val = {
        r.split(",")[0] for r in (root / "ALL_IDB/allidb1_dev_split.csv").read_text().splitlines() if r.endswith(",val")
    }
    large = [p for p in large if p.stem in dev_val][: args.n_large]
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {args.threads}",
        "detector": args.detector,
        "detector_large": args.detector_large or args.detector,
        "classifier": args.classifier,
        "commit": _commit(),
        "640x480": bench_size(pipe, raw, [read_image(p) for p in small], args.repeats, args.threads),
    }
    big_pipe, big_raw = setup(args.detector_large) if args.detector_large else (pipe, raw)
    results["2592x1944"] = bench_size(big_pipe, big_raw, [read_image(p) for p in large], 1, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run_batch(pipe, small, Path(tmp) / "out")
        results["batch_images_per_second_640x480"] = round(len(small) / (time.perf_counter() - t), 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


def _commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except Exception:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
