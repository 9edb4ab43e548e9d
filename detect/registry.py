"""``DETECTORS``: detector backends by name.

Each backend file registers its names where it defines them
(:mod:`leukoscan.detect.backends.yolo`, :mod:`leukoscan.detect.backends.frcnn`), with a
builder, a loader ``load(path, ckpt)`` and its kind; the frameworks themselves are
imported lazily inside those files. :func:`load` reads any saved detector through the
entry named in its checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leukoscan.errors import BadInputError, LeukoScanError, MissingModelError
from leukoscan.registry import Registry
from leukoscan.runs import weights_file
from leukoscan.trust import torch_load

DETECTORS = Registry("detector")


def build(
    name: str,
    *,
    num_classes: int,
    class_names: list[str] | None = None,
    pretrained: bool = True,
    imgsz: int = 640,
    **kw: Any,
) -> Any:
    """A fresh (untrained) :class:`~leukoscan.detect.base.BaseDetector` of backend ``name``."""
    return DETECTORS.build(
        name, num_classes=num_classes, class_names=class_names, pretrained=pretrained, imgsz=imgsz, **kw
    )


def resolve_weights(path_or_run_dir: str | Path) -> Path:
    """A weights file, or a run folder's (``weights/best.pt``, else ``weights/last.pt``)."""
    return weights_file(path_or_run_dir)


def _read_checkpoint(path: Path, trust: bool = False) -> dict[str, Any]:
    """The checkpoint dict (``.pt``) or, for an ONNX export, its ``.json`` sidecar as ``{"leukoscan": meta}``."""
    if path.suffix == ".onnx":
        side = path.with_suffix(".json")
        if not side.is_file():
            raise MissingModelError(f"{side}: missing sidecar for {path.name} (export with: leukoscan export)")
        check_onnx(path)
        try:
            meta = json.loads(side.read_text())
        except ValueError as e:
            raise BadInputError(f"{side}: not a LeukoScan ONNX sidecar ({e})") from e
        if not isinstance(meta, dict) or "backend" not in meta:
            raise BadInputError(f"{side}: not a LeukoScan ONNX sidecar (no 'backend')")
        return {"leukoscan": meta}
    ckpt = torch_load(path, trust=trust, what="detector checkpoint", layers=True)  # runs no code
    if not isinstance(ckpt, dict):
        raise BadInputError(f"{path}: not a detector checkpoint (got {type(ckpt).__name__})")
    return ckpt


def check_onnx(path: Path) -> None:
    """A corrupt ``.onnx`` is a BadInputError now, not a traceback at the first image."""
    import onnxruntime as ort  # only when an ONNX model is asked for

    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own types for a corrupt model
        raise BadInputError(f"{path}: not a readable ONNX model ({str(e).strip().splitlines()[0][:160]})") from e


def backend_of(ckpt: dict[str, Any]) -> str | None:
    """Registry name stored in a checkpoint, else the first entry that recognises it."""
    name = (ckpt.get("leukoscan") or {}).get("backend")
    if name:
        return name
    for e in DETECTORS.entries():
        if e.meta.get("recognizes") and e.meta["recognizes"](ckpt):
            return e.name
    return None


def load(path_or_run_dir: str | Path, *, trust: bool = False) -> Any:
    """Load any saved detector (ours, its ONNX export, or a plain ultralytics ``.pt``) -> BaseDetector.

    ``trust=False`` (default): a checkpoint naming anything but network layers is refused
    (:func:`leukoscan.trust.torch_load`); ``trust=True`` is ``--trust-model``.
    """
    path = resolve_weights(path_or_run_dir)
    ckpt = _read_checkpoint(path, trust)
    name = backend_of(ckpt)
    if name not in DETECTORS:
        raise BadInputError(f"{path}: unknown detector backend {name!r}; valid: {', '.join(DETECTORS.list_names())}")
    try:
        return DETECTORS.load(name, path, ckpt)
    except LeukoScanError:
        raise
    except (ValueError, TypeError, KeyError, RuntimeError) as e:  # the file's data does not fit the backend
        raise BadInputError(
            f"{path}: not a usable {name} checkpoint ({(str(e).strip().splitlines() or [type(e).__name__])[0][:160]})"
        ) from e
