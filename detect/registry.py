"""``DETECTORS``: detector backends by name. Builders import their framework lazily."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from leukoscan.registry import Registry

DETECTORS = Registry("detector")

YOLO_NAMES = ("yolov8n", "yolov8s", "yolov8m", "yolov5nu", "yolov5su")
FRCNN_NAMES = ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn_v2")


def _yolo(name: str, **kw: Any) -> Any:
    from leukoscan.detect.backends.yolo import build_yolo

    return build_yolo(name, **kw)


def _frcnn(name: str, **kw: Any) -> Any:
    from leukoscan.detect.backends.frcnn import build_frcnn

    return build_frcnn(name, **kw)


for _n in YOLO_NAMES:
    DETECTORS.add(_n, partial(_yolo, _n))
for _n in FRCNN_NAMES:
    DETECTORS.add(_n, partial(_frcnn, _n))


def build(name: str, *, num_classes: int, class_names: list[str] | None = None, pretrained: bool = True,
          imgsz: int = 640, **kw: Any) -> Any:
    """A fresh (untrained) :class:`~leukoscan.detect.base.Detector` of backend ``name``."""
    return DETECTORS.build(name, num_classes=num_classes, class_names=class_names, pretrained=pretrained,
                           imgsz=imgsz, **kw)


def resolve_weights(path_or_run_dir: str | Path) -> Path:
    """A weights file, or a run folder (-> ``weights/best.pt``, else ``weights/last.pt``)."""
    p = Path(path_or_run_dir)
    if p.is_dir():
        for cand in (p / "weights" / "best.pt", p / "weights" / "last.pt", p / "best.pt"):
            if cand.is_file():
                return cand
        raise FileNotFoundError(f"{p}: a run folder without weights/best.pt or weights/last.pt")
    if not p.is_file():
        raise FileNotFoundError(f"weights not found: {p}")
    return p


def load(path_or_run_dir: str | Path) -> Any:
    """Load any saved detector (ours, or a plain ultralytics ``.pt``) -> Detector."""
    import torch

    path = resolve_weights(path_or_run_dir)
    if path.suffix == ".onnx":
        from leukoscan.detect.backends.yolo import load_yolo_onnx

        return load_yolo_onnx(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable detector checkpoint ({e})") from e
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a detector checkpoint (got {type(ckpt).__name__})")
    backend = (ckpt.get("leukoscan") or {}).get("backend")
    if backend in FRCNN_NAMES:
        from leukoscan.detect.backends.frcnn import load_frcnn

        return load_frcnn(path, ckpt)
    if backend in YOLO_NAMES or "train_args" in ckpt or "model" in ckpt and backend is None:
        from leukoscan.detect.backends.yolo import load_yolo

        return load_yolo(path, ckpt)
    raise ValueError(f"{path}: unknown detector backend {backend!r}; valid: {', '.join(DETECTORS.list_names())}")
