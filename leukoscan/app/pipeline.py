"""Two-stage pipeline: detector -> leukocyte crops -> classifier -> per-cell calls.

Works with any :class:`~leukoscan.schema.Detector` and any
:class:`~leukoscan.schema.Classifier`; the only thing passed between the stages is a
``supervision.Detections`` (keys of its ``data`` in :mod:`leukoscan.schema`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leukoscan import classify, detect
from leukoscan.classify.crops import crop_detections
from leukoscan.detect.base import NMS_IOU
from leukoscan.errors import ConfigError, MissingModelError
from leukoscan.runs import RunDir, onnx_twin
from leukoscan.schema import BLAST_PROB, CELL_CLASS, CLASS_NAME, NORMAL, Classifier, Detector

if TYPE_CHECKING:
    import supervision as sv

DETECT_RUNS = Path("runs/detect")
CLASSIFY_RUNS = Path("runs/classify")
TRAIN_DETECTOR = "leukoscan train-detector"
TRAIN_CLASSIFIER = "leukoscan train-classifier --model handcrafted+svm --data all_idb2"


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

    The result carries ``data[CLASS_NAME]`` (detector class), ``data[CELL_CLASS]``
    (``blast_class`` or :data:`~leukoscan.schema.NORMAL`) and ``data[BLAST_PROB]`` (float32
    in [0, 1]); boxes are ``xyxy`` pixels of the input image.
    """

    def __init__(self, detector: Detector, classifier: Classifier, cfg: PipelineConfig | None = None) -> None:
        self.detector = detector
        self.classifier = classifier
        self.cfg = cfg or PipelineConfig()
        names = list(classifier.class_names)
        if self.cfg.blast_class not in names:
            raise ConfigError(f"classifier classes {names} have no {self.cfg.blast_class!r} class")
        self._blast_idx = names.index(self.cfg.blast_class)

    def detect(self, image: np.ndarray) -> sv.Detections:
        """Leukocyte detections only (xyxy pixels of ``image``)."""
        det = self.detector.predict(image, conf=self.cfg.conf, iou=self.cfg.iou, tile=self.cfg.tile)
        if len(det) and CLASS_NAME in det.data:
            keep = np.isin(np.asarray(det.data[CLASS_NAME], dtype=object), self.cfg.leukocyte_classes)
            det = det[keep]
        return det

    def classify(self, image: np.ndarray, det: sv.Detections) -> sv.Detections:
        """Add ``data[CELL_CLASS]`` and ``data[BLAST_PROB]`` to ``det`` (in place) and return it."""
        n = len(det)
        probs = np.zeros(n, dtype=np.float32)
        size = int(self.classifier.preprocess.input_size)
        for s in range(0, n, self.cfg.batch):
            sub = det.xyxy[s:s + self.cfg.batch]
            crops = crop_detections(image, sub, margin=self.cfg.margin, size=size)
            probs[s:s + len(crops)] = self.classifier.predict_proba(crops)[:, self._blast_idx]
        det.data[BLAST_PROB] = probs
        det.data[CELL_CLASS] = np.where(probs >= self.cfg.blast_threshold, self.cfg.blast_class,
                                        NORMAL).astype(object)
        return det

    def __call__(self, image: np.ndarray) -> sv.Detections:
        return self.classify(image, self.detect(image))

    def to(self, device: str) -> Pipeline:
        """Run both stages on ``device`` (``"cpu"``, ``"cuda:0"``; see :func:`leukoscan.device.resolve_device`)."""
        self.detector.to(device)
        self.classifier.to(device)
        return self


def find_run(given: str | Path | None, base: Path, train_cmd: str) -> Path:
    """``given`` (run folder or weights file) as is, or the newest trained run under ``base``."""
    if given is None:
        run = RunDir.newest(base)
        if run is None:
            raise MissingModelError(f"no trained model in {base}/; train one first: {train_cmd}")
        return run.path
    path = Path(given)
    if not path.exists():
        raise MissingModelError(f"{path}: no such run folder or weights file")
    return path


def _onnx_twin(path: Path, kind: str) -> Path:
    twin = onnx_twin(path)
    if not twin.is_file():
        raise MissingModelError(f"{twin}: no ONNX model; export first: leukoscan export --{kind} {path}")
    return twin


def load_pipeline(detector: str | Path | None = None, classifier: str | Path | None = None,
                  cfg: PipelineConfig | None = None, *, onnx: bool = False) -> Pipeline:
    """Pipeline from run folders / weights files; ``None`` picks the newest trained run.

    ``onnx=True`` runs the exported ONNX twins with onnxruntime (``leukoscan export``);
    a scikit-learn classifier has no twin and runs as it is.
    """
    if onnx and importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError("--onnx needs onnxruntime: pip install -e '.[onnx]'")
    det_path = find_run(detector, DETECT_RUNS, TRAIN_DETECTOR)
    clf_path = find_run(classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER)
    det = detect.load(_onnx_twin(det_path, "detector") if onnx else det_path)
    if onnx and onnx_twin(clf_path).is_file():
        clf = classify.load(onnx_twin(clf_path))
    else:
        clf = classify.load(clf_path)
        if onnx and clf.kind != "sklearn":
            _onnx_twin(clf_path, "classifier")  # raises: a torch classifier must be exported first
    return Pipeline(det, clf, cfg)
