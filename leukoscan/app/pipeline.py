"""Two-stage pipeline: detector -> leukocyte crops -> classifier -> per-cell calls.

Works with any detector from ``detect`` and any classifier from ``classify``; the only
thing passed between stages is a ``supervision.Detections``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.crops import crop_detections
from leukoscan.detect.base import NMS_IOU

DETECT_RUNS = Path("runs/detect")
CLASSIFY_RUNS = Path("runs/classify")


@dataclass(frozen=True)
class PipelineConfig:
    conf: float = 0.25  # detector score threshold
    iou: float = NMS_IOU  # detector NMS IoU
    tile: int | None = None  # None: slice large slides automatically; 0: never; N: tiles of N px
    # Crop margin, fraction of the box side added on each side. Measured on ALL-IDB1 dev-val
    # (benchmarks/README.md): 0.15 beat 0.5 (ALL-IDB2-like framing) at slide and cell level.
    margin: float = 0.15
    leukocyte_classes: tuple[str, ...] = ("WBC", "leukocyte", "blast")
    blast_class: str = "blast"
    blast_threshold: float = 0.5  # blast probability at or above which a cell is called a blast
    batch: int = 64


class Pipeline:
    """``Pipeline(detector, classifier)(image_rgb) -> supervision.Detections`` of leukocytes.

    The result carries ``data["class_name"]`` (detector class), ``data["cell_class"]``
    (``blast_class`` or ``"normal"``) and ``data["blast_prob"]`` (float32 in [0, 1]).
    """

    def __init__(self, detector: Any, classifier: Any, cfg: PipelineConfig | None = None) -> None:
        self.detector = detector
        self.classifier = classifier
        self.cfg = cfg or PipelineConfig()
        names = list(classifier.class_names)
        if self.cfg.blast_class not in names:
            raise ValueError(f"classifier classes {names} have no {self.cfg.blast_class!r} class")
        self._blast_idx = names.index(self.cfg.blast_class)

    def detect(self, image: np.ndarray) -> Any:
        """Leukocyte detections only (xyxy pixels of ``image``)."""
        det = self.detector.predict(image, conf=self.cfg.conf, iou=self.cfg.iou, tile=self.cfg.tile)
        if len(det) and "class_name" in det.data:
            keep = np.isin(np.asarray(det.data["class_name"], dtype=object), self.cfg.leukocyte_classes)
            det = det[keep]
        return det

    def classify(self, image: np.ndarray, det: Any) -> Any:
        """Add ``cell_class`` and ``blast_prob`` to ``det`` (in place) and return it."""
        n = len(det)
        probs = np.zeros(n, dtype=np.float32)
        size = int(self.classifier.preprocess.input_size)
        for s in range(0, n, self.cfg.batch):
            sub = det.xyxy[s:s + self.cfg.batch]
            crops = crop_detections(image, sub, margin=self.cfg.margin, size=size)
            probs[s:s + len(crops)] = self.classifier.predict_proba(crops)[:, self._blast_idx]
        det.data["blast_prob"] = probs
        det.data["cell_class"] = np.where(probs >= self.cfg.blast_threshold, self.cfg.blast_class,
                                          "normal").astype(object)
        return det

    def __call__(self, image: np.ndarray) -> Any:
        return self.classify(image, self.detect(image))


def resolve_run(given: str | Path | None, base: Path, loader: Any, train_cmd: str) -> Any:
    """Load a model from ``given`` (run folder or weights file) or, if None, the newest run."""
    if given is None:
        runs = [p for p in base.glob("*") if p.is_dir() and (p / "config.yaml").is_file()] if base.is_dir() else []
        runs = [p for p in runs if any(p.glob("weights/*")) or any(p.glob("model*"))]
        if not runs:
            raise FileNotFoundError(f"no trained model in {base}/; train one first: {train_cmd}")
        given = max(runs, key=lambda p: p.stat().st_mtime)
    path = Path(given)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run folder or weights file")
    return loader(path)


def _onnx_loader(kind: str, fallback: Any) -> Any:
    """Load the ONNX twin of a run (see :func:`leukoscan.classify.onnx.onnx_path`); scikit-learn
    classifiers have none and are used as they are."""

    def load(path: Path) -> Any:
        from leukoscan.classify.onnx import OnnxClassifier, onnx_path

        onnx = onnx_path(path, kind)
        if onnx.is_file():
            return fallback(onnx) if kind == "detector" else OnnxClassifier(onnx)
        if kind == "classifier" and getattr(fallback(path), "kind", "") == "sklearn":
            return fallback(path)
        raise FileNotFoundError(f"{onnx}: no ONNX model; export first: python tools/export.py "
                                f"--{kind} {path}")

    return load


def load_pipeline(detector: str | Path | None = None, classifier: str | Path | None = None,
                  cfg: PipelineConfig | None = None, *, onnx: bool = False) -> Pipeline:
    """Pipeline from run folders / weights files; ``None`` picks the newest trained run.

    ``onnx=True`` runs the exported ONNX twins with onnxruntime (``tools/export.py``).
    """
    from leukoscan import classify, detect

    if onnx:
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("--onnx needs onnxruntime: pip install -e '.[onnx]'")
    det_load = _onnx_loader("detector", detect.load) if onnx else detect.load
    clf_load = _onnx_loader("classifier", classify.load) if onnx else classify.load
    det = resolve_run(detector, DETECT_RUNS, det_load, "python tools/train_detector.py")
    clf = resolve_run(classifier, CLASSIFY_RUNS, clf_load,
                      "python tools/train_classifier.py --model handcrafted+svm --data all_idb2")
    return Pipeline(det, clf, cfg)
