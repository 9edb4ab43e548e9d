"""Two-stage pipeline: detector -> leukocyte crops -> classifier -> per-cell calls.

Works with any :class:`~leukoscan.schema.Detector` and any
:class:`~leukoscan.schema.Classifier`; the only thing passed between the stages is a
``supervision.Detections`` (keys of its ``data`` in :mod:`leukoscan.schema`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan import classify, detect
from leukoscan.bundled import bundled_file, bundled_names
from leukoscan.classify.crops import crop_detections
from leukoscan.device import resolve_device
from leukoscan.errors import ConfigError, MissingModelError
from leukoscan.pipeline.infer.cell_types import assign_types, check_type_classifier, type_probs
from leukoscan.pipeline.infer.seam import Fusion, blast_share, decide, feature_matrix, group_cells
from leukoscan.pipeline.infer.settings import CHOSEN, Override, PipelineConfig, resolve_settings
from leukoscan.pipeline.infer.sources import BUNDLED, GIVEN, NEWEST, announce_implicit, model_source
from leukoscan.runs import RunDir, check_twin_fresh, onnx_twin, weights_file
from leukoscan.schema import (
    BLAST_PROB,
    CALL_BY,
    CELL_CLASS,
    CLASS_NAME,
    CLF_BLAST,
    DET_BLAST,
    DET_LEUK,
    LEUKOCYTE,
    NORMAL,
    Classifier,
    Detector,
)
from leukoscan.verdict import newest_finished

if TYPE_CHECKING:
    import supervision as sv

DETECT_RUNS = Path("runs/detect")
CLASSIFY_RUNS = Path("runs/classify")
TRAIN_DETECTOR = "leukoscan train-detector"
TRAIN_CLASSIFIER = "leukoscan train-classifier --model handcrafted+svm --data all_idb2"


class Pipeline:
    """``Pipeline(detector, classifier, cfg, fusion=None)(image_rgb) -> supervision.Detections``.

    One detection per leukocyte (``xyxy`` pixels of the input image) carrying
    ``data[CLASS_NAME]`` (detector class), ``data[CELL_CLASS]`` (``blast_class``,
    :data:`~leukoscan.schema.NORMAL`, or :data:`~leukoscan.schema.LEUKOCYTE` when nothing can
    call blasts), ``data[BLAST_PROB]`` (float32; NaN when not assessed), the detector's
    evidence ``data[DET_BLAST]`` / ``data[DET_LEUK]``, ``data[CLF_BLAST]`` and ``data[CALL_BY]``.

    - ``fusion`` (:class:`leukoscan.pipeline.infer.seam.Fusion`): the fused three-way call; cells it
      rejects (``P(none) >= cfg.reject``) or scored below ``cfg.conf`` are dropped, a kept cell is
      a blast when its blast share ``>= cfg.blast_threshold``.
    - no fusion, a classifier: the classifier's ``P(blast) >= cfg.blast_threshold``.
    - no classifier: the detector's own blast class when it has one, else a count only.

    Every threshold is read from ``cfg`` (the settings in effect); :func:`load_pipeline` fills
    it with a trained pipeline's choices and the user's overrides (:attr:`overrides`).
    """

    def __init__(
        self,
        detector: Detector,
        classifier: Classifier | None = None,
        cfg: PipelineConfig | None = None,
        fusion: Fusion | None = None,
        type_classifier: Classifier | None = None,
    ) -> None:
        self.detector, self.classifier, self.fusion = detector, classifier, fusion
        self.cfg = cfg or PipelineConfig()
        #: the type stage's classifier (None: no differential); see leukoscan.pipeline.infer.cell_types
        self.type_classifier = type_classifier
        if type_classifier is not None:
            check_type_classifier(type_classifier, self.cfg.blast_class)
        self._blast_idx = -1
        if classifier is not None:
            names = list(classifier.class_names)
            if self.cfg.blast_class not in names:
                raise ConfigError(f"classifier classes {names} have no {self.cfg.blast_class!r} class")
            self._blast_idx = names.index(self.cfg.blast_class)
        if fusion is not None and "clf_blast" in fusion.use and classifier is None:
            raise ConfigError("this fusion model needs the classifier's P(blast): give a classifier")
        if fusion is None and self.cfg.reject < 1.0:
            raise ConfigError(f"reject={self.cfg.reject:g}: only a trained pipeline's fusion rejects cells")
        has_blast = self.cfg.blast_class in list(getattr(detector, "class_names", []))
        self.call_by = (
            "fusion"
            if fusion is not None
            else "classifier"
            if classifier is not None
            else "detector"
            if has_blast
            else "count"
        )
        #: where each model came from (:class:`~leukoscan.pipeline.infer.sources.ModelSource` by role);
        #: filled by :func:`load_pipeline`, empty for models built in memory.
        self.sources: dict[str, Any] = {}
        #: settings the user set over the trained pipeline's own choice, by name (provenance names them)
        self.overrides: dict[str, Override] = {}

    def to(self, device: str) -> Pipeline:
        """Run both stages on ``device`` ("cpu", "cuda:0"); models without ``to`` stay where they are."""
        for model in (self.detector, self.classifier, self.type_classifier):
            if model is not None and hasattr(model, "to"):
                model.to(device)
        return self

    def detect(self, image: np.ndarray) -> sv.Detections:
        """One detection per leukocyte (xyxy pixels of ``image``) with the detector's evidence."""
        det = self.detector.predict(image, conf=self.cfg.conf, iou=self.cfg.iou, tile=self.cfg.tile)
        if len(det) and CLASS_NAME in det.data:
            keep = np.isin(np.asarray(det.data[CLASS_NAME], dtype=object), self.cfg.leukocyte_classes)
            det = det[keep]
        if self.cfg.max_det is not None and len(det) > self.cfg.max_det:
            order = np.argsort(-np.asarray(det.confidence))[: self.cfg.max_det]
            det = det[np.sort(order)]
        return group_cells(det, blast_class=self.cfg.blast_class, ios=self.cfg.group_ios)

    def classifier_probs(self, image: np.ndarray, det: sv.Detections) -> np.ndarray:
        """The classifier's ``P(blast)`` per cell ``(N,)`` float32 (NaN without a classifier)."""
        n = len(det)
        probs = np.full(n, np.nan, dtype=np.float32)
        if self.classifier is None:
            return probs
        size = int(self.classifier.preprocess.input_size)
        for s in range(0, n, self.cfg.batch):
            crops = crop_detections(image, det.xyxy[s : s + self.cfg.batch], margin=self.cfg.margin, size=size)
            probs[s : s + len(crops)] = self.classifier.predict_proba(crops)[:, self._blast_idx]
        return probs

    def classify(self, image: np.ndarray, det: sv.Detections) -> sv.Detections:
        """Add the calls (``CELL_CLASS``, ``BLAST_PROB``, ``CLF_BLAST``, ``CALL_BY``) to ``det``
        and return it; a fusion model's rejected cells are dropped (a new object then)."""
        clf = self.classifier_probs(image, det)
        det.data[CLF_BLAST] = clf
        sb, sl = det.data[DET_BLAST], det.data[DET_LEUK]
        if self.call_by == "fusion":
            p = self.fusion.proba(feature_matrix(sb, sl, np.nan_to_num(clf, nan=0.5)))
            kept, blast = decide(
                p, np.maximum(sb, sl), conf=self.cfg.conf, reject=self.cfg.reject, blast=self.cfg.blast_threshold
            )
            det = det[kept]
            prob, is_blast = blast_share(p)[kept], blast[kept]
        elif self.call_by == "classifier":
            prob, is_blast = clf, clf >= self.cfg.blast_threshold
        elif self.call_by == "detector":
            prob = sb / np.maximum(sb + sl, 1e-9)
            is_blast = prob >= self.cfg.blast_threshold
        else:
            prob, is_blast = np.full(len(det), np.nan), np.zeros(len(det), bool)
        det.data[BLAST_PROB] = np.asarray(prob, dtype=np.float32)
        det.data[CELL_CLASS] = np.where(
            is_blast, self.cfg.blast_class, LEUKOCYTE if self.call_by == "count" else NORMAL
        ).astype(object)
        det.data[CALL_BY] = np.full(len(det), self.call_by, dtype=object)
        return det

    def add_types(self, image: np.ndarray, det: sv.Detections) -> sv.Detections:
        """Add ``CELL_TYPE`` / ``TYPE_CONF`` (the type stage) to ``det``; a no-op without a type classifier."""
        if self.type_classifier is None:
            return det
        proba = type_probs(image, det, self.type_classifier, margin=self.cfg.type_margin, batch=self.cfg.batch)
        return assign_types(det, proba, self.type_classifier.class_names, blast_class=self.cfg.blast_class)

    def __call__(self, image: np.ndarray) -> sv.Detections:
        return self.add_types(image, self.classify(image, self.detect(image)))


def bundled_detector() -> str | None:
    """The detector ``infer`` uses when none is named and none has been trained (None: none ships)."""
    return next(iter(bundled_names("detector")), None)


def find_run(
    given: str | Path | None,
    base: Path,
    train_cmd: str,
    *,
    bundled: str | None = None,
    skipped: list[str] | None = None,
) -> Path:
    """``given`` (run folder or weights file) as is, or the newest finished run under ``base``,
    or (no run at all) the bundled weights ``bundled`` when the package ships them. A run still
    training or interrupted is never picked implicitly; newer such runs are appended to ``skipped``."""
    if given is None:
        run, passed = newest_finished(base)
        if skipped is not None:
            skipped += passed
        if run is None and bundled is not None and not passed:
            return bundled_file(bundled)
        if run is None:
            flag = "--detector" if base == DETECT_RUNS else "--classifier"
            unfinished = (
                f" (only unfinished runs: {'; '.join(passed)}; name one with {flag} to use it anyway)" if passed else ""
            )
            alt = " (or count leukocytes with the detector alone: --no-classifier)" if base == CLASSIFY_RUNS else ""
            raise MissingModelError(f"no trained model in {base}/{unfinished}; train one first: {train_cmd}{alt}")
        return run
    path = Path(given)
    if not path.exists():
        raise MissingModelError(f"{path}: no such run folder or weights file")
    return path


def _no_nan(token: str) -> float:
    raise ValueError(f"{token} is not a number")


def read_json_strict(path: Path, what: str) -> Any:
    """A JSON file LeukoScan wrote; unreadable, binary or holding NaN/Infinity -> ConfigError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_nan)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: not a readable {what} ({str(e).splitlines()[0][:120]})") from None


def read_pipeline_spec(spec_file: Path) -> dict[str, Any]:
    """``pipeline.json`` checked: detector, classifier, fusion (paths) and a finite margin."""
    spec = read_json_strict(spec_file, "pipeline.json")
    if not isinstance(spec, dict):
        raise ConfigError(f"{spec_file}: not a pipeline.json (a {type(spec).__name__})")
    missing = [k for k in ("detector", "classifier", "fusion") if k not in spec]
    if missing:
        raise ConfigError(
            f"{spec_file}: pipeline.json lacks {', '.join(missing)} (train one: leukoscan train-all-pipeline)"
        )
    numbers = all(isinstance(spec[k], int | float) and not isinstance(spec[k], bool) for k in CHOSEN if k in spec)
    if not all(isinstance(spec[k], str) for k in ("detector", "fusion")) or not numbers:
        raise ConfigError(f"{spec_file}: detector/fusion must be paths and {', '.join(CHOSEN)} numbers")
    for k in ("detector", "classifier", "fusion", "type_classifier"):
        spec[k] = _spec_path(spec_file.parent, spec.get(k))
    return spec


def _spec_path(folder: Path, value: Any) -> Any:
    """A relative path of pipeline.json, read from its folder (how train-all-pipeline writes them).

    Files written before that hold paths relative to the training's working folder, which held
    ``runs/``: tried from the working folder, then from each folder above the pipeline's.
    """
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    here = folder / value
    tries = [here, Path(value), *(up / value for up in folder.absolute().parents)]
    return str(next((t for t in tries if t.exists()), here))


def load_fusion(path: str | Path) -> Fusion:
    """The fusion model file; missing, unreadable or with values out of range -> ConfigError naming it."""
    doc = read_json_strict(Path(path), "fusion model")
    try:
        return Fusion.from_dict(doc)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: not a usable fusion model ({str(e).splitlines()[0][:120]})") from None


def check_role(path: Path, role: str) -> None:
    """A classifier run given as ``--detector`` (or the reverse) is a one-line ConfigError
    naming the right flag, not a loader's internals message."""
    p = Path(path)
    det_files, clf_files = ("weights/best.pt", "weights/last.pt"), ("model.pt", "model.skops", "model.pkl")
    if p.is_dir():
        is_det = any((p / f).is_file() for f in det_files)
        is_clf = any((p / f).is_file() for f in clf_files) and not is_det
    else:  # a file: only by where it lies (a random file named model.pt is the loader's to refuse)
        in_clf_run = (p.parent / "config.yaml").is_file() and not (p.parent / "weights").is_dir()
        is_clf = p.suffix == ".skops" or (p.name in clf_files and in_clf_run)
        is_det = (
            p.parent.name == "weights"
            and p.name in ("best.pt", "last.pt")
            and (p.parent.parent / "config.yaml").is_file()
        )
    if role == "detector" and is_clf:
        raise ConfigError(
            f"{p} is a classifier run, not a detector: give it as --classifier, and a detector run "
            "(runs/detect/<name>) as --detector"
        )
    if role == "classifier" and is_det:
        raise ConfigError(
            f"{p} is a detector run, not a classifier: give it as --detector, and a classifier run "
            "(runs/classify/<name>) as --classifier"
        )


def _onnx_twin(path: Path, kind: str) -> Path:
    twin = onnx_twin(path)
    if not twin.is_file():
        raise MissingModelError(f"{twin}: no ONNX model; export first: leukoscan export --{kind} {path}")
    if path.suffix != ".onnx":
        check_twin_fresh(twin, weights_file(path))
    return twin


def load_pipeline(
    detector: str | Path | None = None,
    classifier: str | Path | None | bool = None,
    cfg: PipelineConfig | None = None,
    *,
    onnx: bool = False,
    pipeline: str | Path | None = None,
    device: str | None = None,
    trust: bool = False,
    typed: Mapping[str, str] | None = None,
) -> Pipeline:
    """Pipeline from run folders / weights files; ``None`` picks the newest trained run
    and says so loudly on stderr (which run, its weights hash).

    - ``pipeline``: a folder written by ``leukoscan train-all-pipeline`` (``pipeline.json``:
      detector, classifier, fusion, and its chosen crop margin and operating point);
      ``detector``/``classifier`` given as well override its entries.
    - ``cfg``: the settings; ``typed``: those of them the user set explicitly, each with how
      (``{"conf": "--conf"}``). With ``pipeline``, a chosen setting (margin, conf, reject,
      blast threshold) takes the pipeline's value unless typed; a typed one overrides it and
      is recorded in ``Pipeline.overrides`` (:func:`~leukoscan.pipeline.infer.settings.resolve_settings`).
    - ``classifier=False``: detector only (blast calls from the detector's own blast class,
      or a leukocyte count when it has none).
    - ``onnx=True`` runs the exported ONNX twins with onnxruntime (``leukoscan export``);
      a scikit-learn classifier has no twin and runs as it is.
    - ``device``: "auto" (CUDA when present), "cpu", "cuda:0" or "0", applied to both
      stages; None keeps the CPU.
    - ``trust=True`` (``--trust-model``) also loads model files that run code when loaded
      (:mod:`leukoscan.trust`).
    """
    fusion, chosen = None, None
    if pipeline is not None:
        spec_file = Path(pipeline) / "pipeline.json"
        if not spec_file.is_file():
            raise MissingModelError(f"{pipeline}: no pipeline.json (train one: leukoscan train-all-pipeline)")
        spec = read_pipeline_spec(spec_file)
        detector = detector or spec["detector"]
        classifier = spec["classifier"] if classifier is None else classifier
        fusion = load_fusion(spec["fusion"])
        missing = [k for k in CHOSEN if k not in spec]
        if missing:
            raise ConfigError(f"{spec_file}: no {', '.join(missing)} (retrain with leukoscan train-all-pipeline)")
        chosen = {k: float(spec[k]) for k in CHOSEN}
    cfg, overrides = resolve_settings(cfg or PipelineConfig(), chosen, typed or {})
    if pipeline is not None and spec.get("type_classifier") and not cfg.type_classifier:
        cfg = dataclasses.replace(cfg, type_classifier=spec["type_classifier"])
    if onnx and importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError("--onnx needs onnxruntime: pip install -e '.[onnx]'")
    ship = bundled_detector()
    skipped: dict[str, list[str]] = {"detector": [], "classifier": []}
    det_path = find_run(detector, DETECT_RUNS, TRAIN_DETECTOR, bundled=ship, skipped=skipped["detector"])
    check_role(det_path, "detector")
    det_bundled = detector is None and ship is not None and det_path == bundled_file(ship)
    if det_bundled and classifier is None and RunDir.newest(CLASSIFY_RUNS) is None:
        classifier = False  # the bundled models know no blasts: count leukocytes, blasts not assessed
    det_file = _onnx_twin(det_path, "detector") if onnx else det_path
    det = detect.load(det_file, trust=trust)
    clf = clf_file = None
    if classifier is not False:
        clf_path = find_run(classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER, skipped=skipped["classifier"])
        check_role(clf_path, "classifier")
        clf_file = onnx_twin(clf_path) if onnx and onnx_twin(clf_path).is_file() else clf_path
        if clf_file != clf_path and clf_path.suffix != ".onnx":
            check_twin_fresh(clf_file, weights_file(clf_path))
        clf = classify.load(clf_file) if clf_file != clf_path else classify.load(clf_file, trust=trust)
        if onnx and clf_file == clf_path and clf.kind != "sklearn":
            _onnx_twin(clf_path, "classifier")  # raises: a torch classifier must be exported first
    if fusion is not None and clf is None and "clf_blast" in fusion.use:
        raise ConfigError("this pipeline's fusion needs its classifier; do not combine it with detector-only")
    types = None
    if cfg.type_classifier:
        types = classify.load(find_run(cfg.type_classifier, CLASSIFY_RUNS, TRAIN_CLASSIFIER), trust=trust)
    pipe = Pipeline(det, clf, cfg, fusion=fusion, type_classifier=types)
    pipe.overrides = overrides
    for role, given, file, model, flag in (
        ("detector", detector, det_file, det, "--detector"),
        ("classifier", classifier, clf_file, clf, "--classifier"),
        (
            "type_classifier",
            types and cfg.type_classifier,
            types and find_run(cfg.type_classifier, CLASSIFY_RUNS, ""),
            types,
            "--type-classifier",
        ),
    ):
        if model is None:
            continue
        chosen = GIVEN if given is not None else BUNDLED if role == "detector" and det_bundled else NEWEST
        src = model_source(role, file, str(getattr(model, "name", type(model).__name__)), chosen=chosen)
        pipe.sources[role] = src
        if given is None:
            announce_implicit(src, flag, skipped[role])
    if fusion is not None:
        pipe.sources["fusion"] = model_source("fusion", Path(spec["fusion"]), "fusion", chosen=GIVEN)
    if device is not None:
        pipe.to(resolve_device(device))
    return pipe
