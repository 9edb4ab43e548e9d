"""Stand-in models for application-layer tests (no training): a detector that returns the
synthetic leukocytes of the smear it is shown, and a classifier with fixed probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import supervision as sv
from PIL import Image

from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.synthetic import make_smear

N_CELLS = 4  # leukocytes per synthetic slide


class TruthDetector:
    """Returns the synthetic leukocytes of ``make_smear(h, w, seed=0, n_leukocytes=N_CELLS)``;
    nothing on a blank image."""

    name = "truth-standin"

    def __init__(self) -> None:
        self.calls = 0
        self.device = "cpu"

    def to(self, device: str) -> TruthDetector:
        self.device = device
        return self

    def predict(self, image, *, conf=0.25, iou=0.5, tile=None):
        self.calls += 1
        h, w = image.shape[:2]
        s = make_smear(h, w, seed=0, n_leukocytes=N_CELLS)
        keep = [i for i, n in enumerate(s.labels) if n in ("blast", "leukocyte")]
        if not keep or image.max() == image.min():  # a blank image has no cells
            return sv.Detections.empty()
        scores = np.linspace(0.95, 0.6, len(keep)).astype(np.float32)
        return sv.Detections(
            xyxy=s.boxes[keep].astype(np.float32),
            confidence=scores,
            class_id=np.zeros(len(keep), int),
            data={"class_name": np.array(["WBC"] * len(keep))},
        )


class AlternatingClassifier:
    """P(blast) 0.91 for even crops, 0.12 for odd ones."""

    name = "alternating-standin"
    class_names = ("blast", "normal")

    class preprocess:  # noqa: N801 - mimics the model's preprocess config
        input_size = 32

    def __init__(self) -> None:
        self.device = "cpu"

    def to(self, device: str) -> AlternatingClassifier:
        self.device = device
        return self

    def predict_proba(self, crops):
        p = np.array([0.91 if i % 2 == 0 else 0.12 for i in range(len(crops))], np.float32)
        return np.stack([p, 1 - p], axis=1)


def standin_pipeline(**cfg) -> Pipeline:
    return Pipeline(TruthDetector(), AlternatingClassifier(), PipelineConfig(**cfg))


def write_smear(path: Path, seed: int = 0, size=(120, 160), **save_kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_smear(*size, seed=seed, n_leukocytes=N_CELLS).image).save(path, **save_kw)
    return path
