"""Two-stage pipeline: detector -> leukocyte crops -> classifier -> per-cell calls.

Works with any detector from ``detect`` and any classifier from ``classify``; the only
thing passed between stages is a ``supervision.Detections``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classify.crops import crop_detections
from detect.base import NMS_IOU
from leukoscan.app.seam import DET_BLAST, DET_LEUK, GROUP_IOS, Fusion, blast_share, feature_matrix, group_cells

DETECT_RUNS = Path("runs/detect")
CLASSIFY_RUNS = Path("runs/classify")


@dataclass(frozen=True)
class PipelineConfig:
    conf: float = 0.25  # detector score threshold (a fusion model brings its own)
    iou: float = NMS_IOU  # detector NMS IoU
    tile: int | None = None  # None: slice large slides automatically; 0: never; N: tiles of N px
    # Crop margin, fraction of the box side added on each side. Measured on ALL-IDB1 dev-val
    # (benchmarks/README.md): 0.15 beat 0.5 (ALL-IDB2-like framing) at slide and cell level.
    margin: float = 0.15
    leukocyte_classes: tuple[str, ...] = ("WBC", "leukocyte", "blast")
    blast_class: str = "blast"
    blast_threshold: float = 0.5  # blast probability at or above which a cell is called a blast
    batch: int = 64
    # Boxes of one cell from different detector classes merge into one cell when their
    # intersection over the smaller box is >= this (leukoscan.app.seam); 0 keeps every box.
    group_ios: float = GROUP_IOS


# How a cell's blast call was made (``data["call_by"]``, summaries, reports).
CALL_BY = {"fusion": "detector + classifier, fused", "classifier": "classifier",
           "detector": "detector's own blast class (no classifier)",
           "count": "not classified (detector has no blast class): leukocyte count only"}


class Pipeline:
    """``Pipeline(detector, classifier, cfg, fusion=None)(image_rgb) -> supervision.Detections``.

    One detection per leukocyte with ``data["class_name"]`` (detector class),
    ``data["cell_class"]`` (``blast_class``, ``"normal"``, or ``"leukocyte"`` when nothing can
    call blasts), ``data["blast_prob"]`` (float32; NaN when not assessed), the detector's
    per-cell evidence ``data["det_blast"]`` / ``data["det_leukocyte"]`` and ``data["call_by"]``.

    - ``fusion`` (:class:`leukoscan.app.seam.Fusion`): the fused three-way call; cells it
      rejects (``P(none) >= reject``) are dropped; its ``conf`` replaces ``cfg.conf``.
    - no fusion, a classifier: the classifier's ``P(blast) >= cfg.blast_threshold``.
    - no classifier: the detector's own blast class when it has one, else a count only.
    """

    def __init__(self, detector: Any, classifier: Any = None, cfg: PipelineConfig | None = None,
                 fusion: Fusion | None = None) -> None:
        self.detector, self.classifier, self.fusion = detector, classifier, fusion
        self.cfg = cfg or PipelineConfig()
        self._blast_idx = None
        if classifier is not None:
            names = list(classifier.class_names)
            if self.cfg.blast_class not in names:
                raise ValueError(f"classifier classes {names} have no {self.cfg.blast_class!r} class")
            self._blast_idx = names.index(self.cfg.blast_class)
        if fusion is not None and "clf_blast" in fusion.use and classifier is None:
            raise ValueError("this fusion model needs the classifier's P(blast): give a classifier")
        has_blast = self.cfg.blast_class in list(getattr(detector, "class_names", []))
        self.call_by = ("fusion" if fusion is not None else "classifier" if classifier is not None
                        else "detector" if has_blast else "count")

    def detect(self, image: np.ndarray) -> Any:
        """One detection per leukocyte (xyxy pixels of ``image``) with the detector's evidence."""
        conf = self.fusion.conf if self.fusion is not None else self.cfg.conf
        det = self.detector.predict(image, conf=conf, iou=self.cfg.iou, tile=self.cfg.tile)
        if len(det) and "class_name" in det.data:
            keep = np.isin(np.asarray(det.data["class_name"], dtype=object), self.cfg.leukocyte_classes)
            det = det[keep]
        return group_cells(det, blast_class=self.cfg.blast_class, ios=self.cfg.group_ios or 1.01)

    def classify(self, image: np.ndarray, det: Any) -> Any:
        """Add ``cell_class``, ``blast_prob`` and ``call_by``; returns the (possibly filtered) cells."""
        n = len(det)
        clf = np.full(n, np.nan, dtype=np.float32)
        if self.classifier is not None:
            size = int(self.classifier.preprocess.input_size)
            for s in range(0, n, self.cfg.batch):
                crops = crop_detections(image, det.xyxy[s:s + self.cfg.batch], margin=self.cfg.margin, size=size)
                clf[s:s + len(crops)] = self.classifier.predict_proba(crops)[:, self._blast_idx]
            det.data["clf_blast"] = clf
        sb, sl = det.data[DET_BLAST], det.data[DET_LEUK]
        if self.call_by == "fusion":
            p = self.fusion.proba(feature_matrix(sb, sl, np.nan_to_num(clf, nan=0.5)))
            kept, blast = self.fusion.decide(p, np.maximum(sb, sl))
            det = det[kept]
            prob, is_blast = blast_share(p)[kept], blast[kept]
        elif self.call_by == "classifier":
            prob, is_blast = clf, clf >= self.cfg.blast_threshold
        elif self.call_by == "detector":
            prob = sb / np.maximum(sb + sl, 1e-9)
            is_blast = prob >= self.cfg.blast_threshold
        else:
            prob, is_blast = np.full(n, np.nan), np.zeros(n, bool)
        other = "leukocyte" if self.call_by == "count" else "normal"
        det.data["blast_prob"] = np.asarray(prob, dtype=np.float32)
        det.data["cell_class"] = np.where(is_blast, self.cfg.blast_class, other).astype(object)
        det.data["call_by"] = np.full(len(det), self.call_by, dtype=object)
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
    """Load the ONNX twin of a run (see :func:`classify.onnx.onnx_path`); scikit-learn
    classifiers have none and are used as they are."""

    def load(path: Path) -> Any:
        from classify.onnx import OnnxClassifier, onnx_path

        onnx = onnx_path(path, kind)
        if onnx.is_file():
            return fallback(onnx) if kind == "detector" else OnnxClassifier(onnx)
        if kind == "classifier" and getattr(fallback(path), "kind", "") == "sklearn":
            return fallback(path)
        raise FileNotFoundError(f"{onnx}: no ONNX model; export first: python tools/export.py "
                                f"--{kind} {path}")

    return load


def load_pipeline(detector: str | Path | None = None, classifier: str | Path | None | bool = None,
                  cfg: PipelineConfig | None = None, *, onnx: bool = False,
                  pipeline: str | Path | None = None) -> Pipeline:
    """Pipeline from run folders / weights files; ``None`` picks the newest trained run.

    - ``pipeline``: a folder written by ``tools/train_all_pipeline.py`` (``pipeline.json``:
      detector, classifier, fusion, crop margin, thresholds); ``detector``/``classifier``
      given as well override its entries.
    - ``classifier=False``: detector only (blast calls from the detector's own blast class,
      or a leukocyte count when it has none).
    - ``onnx=True`` runs the exported ONNX twins with onnxruntime (``tools/export.py``).
    """
    import dataclasses

    import classify
    import detect

    fusion = None
    if pipeline is not None:
        spec_file = Path(pipeline) / "pipeline.json"
        if not spec_file.is_file():
            raise FileNotFoundError(f"{pipeline}: no pipeline.json (train one: python tools/train_all_pipeline.py)")
        spec = json.loads(spec_file.read_text())
        detector = detector or spec["detector"]
        classifier = spec["classifier"] if classifier is None else classifier
        fusion = Fusion.load(spec["fusion"])
        cfg = dataclasses.replace(cfg or PipelineConfig(), margin=float(spec["margin"]))
    if onnx:
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("--onnx needs onnxruntime: pip install -e '.[onnx]'")
    det_load = _onnx_loader("detector", detect.load) if onnx else detect.load
    clf_load = _onnx_loader("classifier", classify.load) if onnx else classify.load
    det = resolve_run(detector, DETECT_RUNS, det_load, "python tools/train_detector.py")
    clf = None if classifier is False else resolve_run(
        classifier, CLASSIFY_RUNS, clf_load, "python tools/train_classifier.py --model handcrafted+svm --data all_idb2")
    if fusion is not None and clf is None and "clf_blast" in fusion.use:
        raise ValueError("this pipeline's fusion needs its classifier; do not combine it with detector-only")
    return Pipeline(det, clf, cfg, fusion=fusion)
