#!/usr/bin/env python
"""Batch inference throughput: one process (``run_batch``) vs Ray Data workers (``run_batch_ray``).

Same images, same models, same machine, same run. For each image size (BCCD 640x480,
ALL-IDB1 2592x1944 / 1712x1368) it copies ``--n`` images into a folder (cycling when the
dataset has fewer), then times

  * ``single``: load the pipeline once, ``run_batch`` over the folder with
    ``--single-threads`` torch threads (default 1: on a shared 2-core machine 2 threads
    were ~8x slower per image than 1 in a smoke run, oversubscription);
  * ``ray``: ``ray.init`` (timed apart), then ``run_batch_ray`` with one worker per core
    (1 thread each): actor start + model load, slides, merge of the records.

and reports images/s of both, their ratio, and where Ray's extra time goes: cluster start,
time to the first finished slide (actor start + model load), sum of per-slide worker time
vs workers x wall time (idle/scheduling), and the final merge.

Models: ``--detector``/``--classifier`` (trained runs); by default an untrained YOLOv8n
(imgsz 416, 3 BCCD classes) and an untrained ``cnn`` classifier are saved to a temp folder:
the compute per image is that of the real recipe, the number of detected cells is not
(reported as ``cells_per_image``).

    python benchmarks/ray_infer.py --data-root ../shared/data [--n 100] [--out benchmarks/results/ray_infer_cpu.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

SIZES = {"bccd_640x480": "BCCD/JPEGImages", "allidb1_full": "ALL_IDB/ALL_IDB1/im"}


def untrained_models(folder: Path, imgsz: int = 416) -> tuple[Path, Path]:
    """An untrained YOLOv8n detector (3 BCCD classes) and ``cnn`` classifier saved under ``folder``."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from leukoscan import classify
    from leukoscan.detect.backends.yolo import stamp_meta
    from leukoscan.detect.base import DetectorMeta

    names = ["WBC", "RBC", "Platelets"]
    net = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    net.names = dict(enumerate(names))
    det = folder / "det.pt"
    torch.save({"model": net, "train_args": {"imgsz": imgsz, "model": "yolov8n.yaml"}}, det)
    stamp_meta(det, DetectorMeta(backend="yolov8n", class_names=names, imgsz=imgsz))
    clf = classify.build("cnn", num_classes=2, pretrained=False, class_names=["blast", "normal"])
    (folder / "clf").mkdir()
    clf.save(folder / "clf")
    return det, folder / "clf"


def stage_images(src: Path, dst: Path, n: int) -> Path:
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif", ".bmp"))
    dst.mkdir(parents=True)
    for i in range(n):
        f = files[i % len(files)]
        shutil.copy(f, dst / f"{i:03d}_{f.name}")
    return dst


def bench_single(factory, folder: Path, out: Path, threads: int) -> dict:
    from leukoscan.device import set_cpu_threads
    from leukoscan.pipeline.batch.runner import run_batch

    set_cpu_threads(threads)
    t0 = time.perf_counter()
    pipe = factory()
    pipe.detector.threads = threads
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = run_batch(pipe, [folder], out)
    wall = time.perf_counter() - t1
    n = len(res.summaries)
    return {
        "images": n,
        "load_s": round(t_load, 2),
        "wall_s": round(wall, 2),
        "images_per_s": round(n / wall, 3),
        "cells_per_image": round(statistics.mean(s.leukocytes for s in res.summaries), 1) if n else 0,
    }


def bench_ray(factory, folder: Path, out: Path, workers: int) -> dict:
    import ray

    from leukoscan.pipeline.batch.distributed import STATE_DIR, RayOptions, run_batch_ray

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    t_init = time.perf_counter() - t0
    try:
        start = time.time()
        t1 = time.perf_counter()
        res = run_batch_ray(factory, [folder], out, options=RayOptions(workers=workers), progress=False)
        wall = time.perf_counter() - t1
        end = time.time()
    finally:
        ray.shutdown()
    recs = [json.loads(p.read_text()) for p in (out / STATE_DIR).glob("*.json")]
    done = sorted(r["finished_at"] for r in recs)
    work = sum(r["seconds"] for r in recs)
    n = len(res.summaries)
    merge = end - done[-1] if done else 0.0
    return {
        "images": n,
        "workers": workers,
        "ray_init_s": round(t_init, 2),
        "wall_s": round(wall, 2),
        "images_per_s": round(n / wall, 3),
        "images_per_s_incl_init": round(n / (wall + t_init), 3),
        "first_slide_done_s": round(done[0] - start, 2) if done else None,
        "worker_busy_s": round(work, 2),
        "worker_capacity_s": round(workers * wall, 2),
        "worker_utilisation": round(work / (workers * wall), 3) if wall else None,
        "merge_s": round(merge, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--detector")
    ap.add_argument("--classifier")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--single-threads", type=int, default=1, help="torch threads of the one-process run")
    ap.add_argument("--out", default="benchmarks/results/ray_infer_cpu.json")
    a = ap.parse_args()

    from leukoscan.pipeline.infer.cascade import load_pipeline

    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    det, clf = (Path(a.detector).absolute(), Path(a.classifier).absolute()) if a.detector else untrained_models(tmp)
    factory = functools.partial(load_pipeline, det, clf)
    results = {
        "machine": {
            "cpus": cores,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg()[0],
        },
        "single_threads": a.single_threads,
        "ray_threads_per_worker": 1,
        "models": "given" if a.detector else "untrained yolov8n@416 + cnn",
        "n": a.n,
        "sizes": {},
    }
    try:
        for key in a.sizes.split(","):
            folder = stage_images(Path(a.data_root) / SIZES[key], tmp / key, a.n)
            single = bench_single(factory, folder, tmp / f"{key}_single", threads=a.single_threads)
            print(key, "single", single, flush=True)
            dist = bench_ray(factory, folder, tmp / f"{key}_ray", workers=cores)
            print(key, "ray", dist, flush=True)
            results["sizes"][key] = {
                "single": single,
                "ray": dist,
                "ray_over_single": round(dist["images_per_s"] / single["images_per_s"], 3),
                "ray_incl_init_over_single": round(dist["images_per_s_incl_init"] / single["images_per_s"], 3),
            }
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(results, indent=2) + "\n")  # after each size: a stop keeps it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({k: v["ray_over_single"] for k, v in results["sizes"].items()}))
    print(f"written: {a.out}")


if __name__ == "__main__":
    main()
