"""Square crops around detections, padded at image borders.

The same code serves crops from full-smear detections (ALL-IDB1, BCCD) and single-cell
images (ALL-IDB2: one detection covering the whole image, see ``whole_image_box``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import supervision as sv

#: Crop margin, the fraction of the box side added on each side of a cell crop: the one
#: default of the pipeline (``PipelineConfig.margin``, ``--margin``) and of backbone
#: pretraining. Measured on ALL-IDB1 dev-val (benchmarks/README.md): 0.15 beat 0.5
#: (ALL-IDB2-like framing) at slide and cell level.
CROP_MARGIN = 0.15


def square_box(xyxy: np.ndarray, margin: float) -> np.ndarray:
    """``(N, 4)`` xyxy pixels -> ``(N, 4)`` square xyxy boxes (float) around the same centres.

    The side is ``max(w, h) * (1 + 2 * margin)``: ``margin`` is a fraction of the box side
    added on each side.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    cx, cy = (xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2
    side = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * (1 + 2 * margin)
    side = np.maximum(side, 1.0)
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def crop_square(
    image: np.ndarray, box: np.ndarray, *, size: int | None = None, pad_value: int | tuple[int, int, int] | str = "edge"
) -> np.ndarray:
    """Crop one xyxy box, padding outside the image; optionally resize to ``(size, size)``.

    ``pad_value``: ``"edge"`` replicates border pixels (default; keeps background colour),
    ``"reflect"``, or a constant grey level / RGB triple.
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    pads = ((max(0, -y0), max(0, y1 - h)), (max(0, -x0), max(0, x1 - w)))
    inner = image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    if inner.size == 0:  # box entirely outside the image
        fill = 0 if isinstance(pad_value, str) else pad_value
        crop = np.empty((y1 - y0, x1 - x0, 3), dtype=image.dtype)
        crop[:] = fill
    elif any(p for pair in pads for p in pair):
        pad = (*pads, (0, 0))
        if isinstance(pad_value, str):
            crop = np.pad(inner, pad, mode=pad_value)
        else:
            crop = np.empty((y1 - y0, x1 - x0, 3), dtype=image.dtype)
            crop[:] = pad_value
            crop[pads[0][0] : pads[0][0] + inner.shape[0], pads[1][0] : pads[1][0] + inner.shape[1]] = inner
    else:
        crop = inner.copy()
    if size is not None:
        import cv2

        interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=interp)
    return np.ascontiguousarray(crop)


def crop_detections(
    image: np.ndarray,
    detections: sv.Detections | np.ndarray,
    *,
    margin: float,
    size: int | None = None,
    pad_value: int | tuple[int, int, int] | str = "edge",
) -> list[np.ndarray]:
    """Square RGB crops ``(S, S, 3)`` for every detection (``supervision.Detections`` or ``(N, 4)`` xyxy).

    ``size=None`` keeps each crop's native side; otherwise all crops are resized to
    ``size`` x ``size``. Boxes touching or crossing the border are padded, never
    shifted, so the cell stays centred and every crop keeps the requested size.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    xyxy = getattr(detections, "xyxy", detections)
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    bad = (xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1]) | ~np.isfinite(xyxy).all(axis=1)
    if bad.any():
        raise ValueError(f"malformed xyxy boxes (x2 <= x1, y2 <= y1 or non-finite): {xyxy[bad][:3].tolist()}")
    return [crop_square(image, b, size=size, pad_value=pad_value) for b in square_box(xyxy, margin)]


def whole_image_box(image: np.ndarray) -> np.ndarray:
    """``(1, 4)`` xyxy box covering a single-cell image (so it goes through ``crop_detections``)."""
    h, w = image.shape[:2]
    return np.array([[0.0, 0.0, float(w), float(h)]])
