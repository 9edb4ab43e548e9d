"""Stand-in pipeline for the Ray tests, and a script that runs a Ray batch (to be killed).

    python tests/ray_helpers.py OUT_DIR INPUT... [--sleep S]

The stand-ins are deterministic functions of the image, so a slide gives the same cells
in any process: boxes of the synthetic smear seeded by the image's bytes, blast
probability from the crop's mean red value.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import zlib

import numpy as np
import supervision as sv

from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.synthetic import make_smear

DIE_HEIGHT = 77  # a slide this many pixels high kills the worker that reads it


class StandInDetector:
    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep

    def predict(self, image, *, conf=0.25, iou=0.5, tile=None):
        if image.shape[0] == DIE_HEIGHT:
            os._exit(3)  # a worker process dying mid-slide (segfault, OOM kill)
        time.sleep(self.sleep)
        h, w = image.shape[:2]
        s = make_smear(h, w, seed=zlib.crc32(image.tobytes()) % 1000)
        keep = [i for i, n in enumerate(s.labels) if n in ("blast", "leukocyte")]
        if not keep:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=s.boxes[keep].astype(np.float32),
            confidence=np.full(len(keep), 0.9, np.float32),
            class_id=np.zeros(len(keep), int),
            data={"class_name": np.array(["WBC"] * len(keep))},
        )

    def to(self, device):
        return self


class RedClassifier:
    class_names = ("blast", "normal")

    class preprocess:  # noqa: N801 - mimics the model's preprocess config
        input_size = 32

    def predict_proba(self, crops):
        p = np.array([float(c[..., 0].mean()) / 255.0 for c in crops], np.float32)
        return np.stack([p, 1 - p], axis=1).reshape(-1, 2)

    def to(self, device):
        return self


def make_pipeline(sleep: float = 0.0) -> Pipeline:
    return Pipeline(StandInDetector(sleep), RedClassifier(), PipelineConfig())


def factory(sleep: float = 0.0):
    return functools.partial(make_pipeline, sleep)


if __name__ == "__main__":
    import ray

    from leukoscan.pipeline.batch.distributed import RayOptions, run_batch_ray

    args = sys.argv[1:]
    sleep = float(args[args.index("--sleep") + 1]) if "--sleep" in args else 0.0
    paths = [a for i, a in enumerate(args) if a != "--sleep" and (i == 0 or args[i - 1] != "--sleep")]
    import leukoscan.pipeline.infer.provenance as prov

    prov.time.strftime = lambda fmt, *a: "2026-01-01T00:00:00+0000"  # as the tests' fixed clock
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    run_batch_ray(factory(sleep), paths[1:], paths[0], ray_options=RayOptions(workers=2), progress=False)
    ray.shutdown()
