#!/usr/bin/env python
"""Pipeline throughput on one device: images/s at batch sizes 1/16/64 for 640x480 and 2592x1944.

What ``batch`` means here: ``batch`` images are handed over per step. The detector stage
runs them as one ultralytics ``predict`` call on a list (whole images letterboxed to the
model's ``imgsz``); the classifier stage gets the crops of all ``batch`` images in one
``predict_proba`` call. ``pipeline_b1`` is the full per-image pipeline as ``leukoscan
infer`` runs it (sliced inference on large slides, crops, classifier), batch 1.
Images are real slides resized to the target size (BCCD val and ALL-IDB1), cycled.

    python benchmarks/gpu_throughput.py --detector RUN --classifier RUN --data-root ../shared/data \
        --device cuda:0 --out throughput.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SIZES = {"640x480": (480, 640, "BCCD/JPEGImages"), "2592x1944": (1944, 2592, "ALL_IDB/ALL_IDB1/im")}
BATCHES = (1, 16, 64)


def _images(root: Path, sub: str, hw: tuple[int, int], n: int) -> list[np.ndarray]:
    import cv2

    from leukoscan.io import read_image

    files = sorted((root / sub).glob("*.jpg"))[:n]
    return [cv2.resize(read_image(f), (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for f in files]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def batched_step(pipe, images: list[np.ndarray]) -> int:
    """Detector on the whole list in one call, then the classifier on all crops at once; -> cells."""
    from leukoscan.classify.crops import crop_detections
    from leukoscan.detect.backends.yolo import fp16_kwargs

    det = pipe.detector
    bgr = [np.ascontiguousarray(im[..., ::-1]) for im in images]
    res = det.model.predict(
        bgr,
        conf=pipe.cfg.conf,
        iou=pipe.cfg.iou,
        imgsz=det.meta.imgsz,
        device=det.device,
        verbose=False,
        batch=len(images),
        **fp16_kwargs(det.device),
    )
    size = int(pipe.classifier.preprocess.input_size)
    crops = []
    for im, r in zip(images, res, strict=True):
        boxes = r.boxes.xyxy.cpu().numpy()
        if len(boxes):
            crops.extend(crop_detections(im, boxes, margin=pipe.cfg.margin, size=size))
    if crops:
        pipe.classifier.predict_proba(crops)
    return len(crops)


def measure(pipe, images: list[np.ndarray], device: str, seconds: float = 8.0) -> dict:
    out = {}
    for b in BATCHES:
        batch = [images[i % len(images)] for i in range(b)]
        batched_step(pipe, batch)  # warm-up (cuDNN autotune, allocations)
        _sync(device)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            batched_step(pipe, batch)
            n += b
        _sync(device)
        out[f"batch{b}_images_per_s"] = round(n / (time.perf_counter() - t0), 2)
    pipe(images[0])
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pipe(images[n % len(images)])
        n += 1
    _sync(device)
    out["pipeline_b1_images_per_s"] = round(n / (time.perf_counter() - t0), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per measurement")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    from leukoscan.device import resolve_device
    from leukoscan.pipeline.infer.cascade import load_pipeline

    device = resolve_device(a.device)
    pipe = load_pipeline(a.detector, a.classifier).to(device)
    res = {"device": device, "detector": a.detector, "classifier": a.classifier}
    for key, (h, w, sub) in SIZES.items():
        res[key] = measure(pipe, _images(Path(a.data_root), sub, (h, w), 16), device, a.seconds)
        print(key, res[key], flush=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
