"""The one detector interface every backend implements.

A :class:`BaseDetector` trains on a canonical prepared dataset folder (``data.yaml`` +
``images/`` + ``labels/`` + ``annotations/``), predicts ``supervision.Detections`` in
original-image pixels (``xyxy`` float32, ``class_id``, ``confidence``,
``data[CLASS_NAME]`` (:mod:`leukoscan.schema`)), and saves/loads one weights file.

Large images: ``predict(..., tile=None)`` slices automatically when the image's longer
side exceeds ``auto_tile_factor * tile_size`` (``tile_size`` is the tile the model was
trained on, else its ``imgsz``); ``tile=<pixels>`` forces slicing with that tile size;
``tile=0`` never slices. See :mod:`leukoscan.detect.tiling`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.detect.defaults import DETECT_CONF, NMS_IOU
from leukoscan.detect.tiling import sliced_predict
from leukoscan.errors import BadInputError
from leukoscan.schema import CLASS_NAME

if TYPE_CHECKING:
    import supervision as sv

__all__ = [
    "DETECT_CONF",
    "NMS_IOU",
    "BaseDetector",
    "DetectorMeta",
    "FitArgs",
    "check_image",
    "empty_detections",
    "make_detections",
    "with_class_names",
]

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class DetectorMeta:
    """What a weights file must carry to be usable on its own."""

    backend: str  # registry name, e.g. "yolov8n"
    class_names: list[str]
    imgsz: int
    tile_size: int = 0  # > 0 when trained on tiles of this size (pixels)
    tile_overlap: int = 0
    auto_tile_factor: float = 2.0
    pretrained: str = "false"  # "true", "false" or "false (unavailable)"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorMeta:
        """From a checkpoint's ``"leukoscan"`` dict (file data: each value type-checked)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key, ok in _META_TYPES.items():
            if key in known and not ok(known[key]):
                raise ValueError(f"detector meta {key}={str(known[key])[:60]!r} has the wrong type or range")
        return cls(**known)


def _int_in(lo: int, hi: int) -> Any:
    return lambda v: type(v) is int and lo <= v <= hi


_META_TYPES = {
    "backend": lambda v: isinstance(v, str),
    "pretrained": lambda v: isinstance(v, str),
    "class_names": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "imgsz": _int_in(16, 8192),
    "tile_size": _int_in(0, 16384),
    "tile_overlap": _int_in(0, 16384),
    "auto_tile_factor": lambda v: type(v) in (int, float) and 0 < v < 1000,
    "extra": lambda v: isinstance(v, dict) and all(type(x) in (int, float, str, bool) or x is None for x in v.values()),
}


@dataclass(frozen=True)
class FitArgs:
    """Backend-neutral training arguments (built by :mod:`leukoscan.detect.train`)."""

    data_dir: Path  # canonical dataset folder
    run_dir: Path  # output folder: weights/{best,last}.pt live in run_dir/weights
    epochs: int
    batch: int
    device: str
    threads: int
    seed: int = 0
    workers: int = 0
    lr: float | None = None
    patience: int = 100
    val: bool = True  # validate after every epoch (False: only after the last)
    train_split: str = "train"
    val_split: str = "val"
    augment: Any = None  # leukoscan.detect.augment.AugmentConfig
    resume: bool = False
    amp: bool = True  # float16 mixed precision where the backend supports it (CUDA only)
    callbacks: Sequence[EpochCallback] = ()
    verbose: bool = True


class BaseDetector(ABC):
    """What every backend shares (it implements :class:`leukoscan.schema.Detector`, the
    stage's contract). Subclasses set ``self.meta`` and implement the abstract methods."""

    meta: DetectorMeta

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.class_names)

    @property
    def name(self) -> str:
        return self.meta.backend

    @abstractmethod
    def fit(self, args: FitArgs) -> dict[str, Any]:
        """Train; write ``run_dir/weights/{last,best}.pt``; return a small summary dict."""

    @abstractmethod
    def predict_full(self, image: np.ndarray, *, conf: float, iou: float) -> sv.Detections:
        """Predict on one whole RGB uint8 ``(H, W, 3)`` image -> ``sv.Detections`` (pixels)."""

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write a self-contained weights file (meta included)."""

    def export_onnx(self, path: str | Path) -> Path:
        """Write an ONNX model (+ ``.json`` meta) that :func:`leukoscan.detect.load` runs with onnxruntime."""
        raise BadInputError(f"ONNX export is implemented for the YOLO backends, not {self.name!r}")

    def to(self, device: str) -> BaseDetector:
        """Run inference on ``device`` ("cpu", "cuda:0")."""
        self.device = device
        return self

    def predict(
        self, image: np.ndarray, *, conf: float = DETECT_CONF, iou: float = NMS_IOU, tile: int | None = None
    ) -> sv.Detections:
        """RGB uint8 ``(H, W, 3)`` -> ``sv.Detections`` in original-image pixels.

        ``tile``: None = automatic (slice when the image is large), an int > 0 = slice
        with tiles of that size, 0 = never slice. The input is not modified.
        """
        check_image(image)
        size = self.tile_for(image.shape[:2], tile)
        if size:
            overlap = self.meta.tile_overlap or max(32, size // 5)
            dets = sliced_predict(
                lambda im: self.predict_full(im, conf=conf, iou=iou), image, tile=size, overlap=overlap, iou=iou
            )
        else:
            dets = self.predict_full(image, conf=conf, iou=iou)
        return with_class_names(dets, self.class_names)

    def tile_for(self, image_hw: tuple[int, int], tile: int | None) -> int:
        """Tile size to use for an image of ``image_hw`` (0 = whole image)."""
        if tile is not None:
            return int(tile)
        base = self.meta.tile_size or self.meta.imgsz
        return base if max(image_hw) > self.meta.auto_tile_factor * base else 0


def check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        desc = f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image).__name__)}"
        raise BadInputError(f"expected an RGB uint8 image of shape (H, W, 3), got {desc}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise BadInputError(f"empty image: shape {image.shape} has no pixels")


def make_detections(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, class_names: list[str]
) -> sv.Detections:
    """Arrays -> ``sv.Detections`` (``xyxy`` float32 (N, 4) pixels) with ``data[CLASS_NAME]``."""
    import supervision as sv

    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    if len(xyxy) == 0:
        return empty_detections()
    class_ids = np.asarray(class_ids, dtype=int).reshape(-1)
    return sv.Detections(
        xyxy=xyxy,
        confidence=np.asarray(scores, dtype=np.float32).reshape(-1),
        class_id=class_ids,
        data={CLASS_NAME: np.array([class_names[i] for i in class_ids], dtype=object)},
    )


def empty_detections() -> sv.Detections:
    import supervision as sv

    d = sv.Detections.empty()
    d.data[CLASS_NAME] = np.array([], dtype=object)
    return d


def with_class_names(dets: sv.Detections, class_names: list[str]) -> sv.Detections:
    """Ensure ``data[CLASS_NAME]`` matches ``class_id`` (after slicing/merging too)."""
    if len(dets) == 0:
        return empty_detections()
    dets.data[CLASS_NAME] = np.array([class_names[int(i)] for i in dets.class_id], dtype=object)
    return dets
