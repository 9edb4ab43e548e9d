"""Shared augmentation config for every detector backend (microscopy defaults).

A blood smear has no up or down and no left or right: a field of view rotated by 90
degrees or mirrored is just as plausible as the original. So the defaults flip both
ways and rotate by multiples of 90 degrees (never arbitrary angles, which would
inflate the axis-aligned boxes). Stain and illumination vary between labs, so hue,
saturation and value are jittered; magnification varies a little, so scale too.

The same :class:`AugmentConfig` drives
- YOLO: mapped to ultralytics' own train arguments (:func:`ultralytics_args`), with
  the 90-degree rotation passed as a custom albumentations transform;
- Faster R-CNN: an albumentations pipeline (:func:`albumentations_pipeline`) on
  ``pascal_voc`` boxes (``xyxy`` pixels).

``preset="ultralytics"`` reproduces ultralytics' stock detection augmentation
(no vertical flip, no rotation), used as the baseline in ``benchmarks/detection.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (0..1) and magnitudes; all applied at train time only."""

    fliplr: float = 0.5  # horizontal flip probability
    flipud: float = 0.5  # vertical flip probability (ultralytics default: 0.0)
    rot90: float = 0.5  # probability of a random 90/180/270-degree rotation
    hsv_h: float = 0.015  # hue jitter, fraction of the hue circle (stain)
    hsv_s: float = 0.7  # saturation jitter, fraction
    hsv_v: float = 0.4  # value (brightness) jitter, fraction
    scale: float = 0.5  # random scale in [1 - scale, 1 + scale]
    translate: float = 0.1  # random translation, fraction of the image (YOLO only)
    mosaic: float = 1.0  # YOLO mosaic probability
    close_mosaic: int = 10  # YOLO: last N epochs without mosaic
    preset: str = "microscopy"  # "microscopy" or "ultralytics" (stock baseline)

    def resolved(self) -> AugmentConfig:
        """The effective config: the ``ultralytics`` preset drops vertical flips and rotations."""
        if self.preset == "microscopy":
            return self
        if self.preset == "ultralytics":
            return replace(self, flipud=0.0, rot90=0.0)
        raise ValueError(f"augment.preset must be 'microscopy' or 'ultralytics', got {self.preset!r}")


def _stock_light_transforms() -> list[Any]:
    """ultralytics' default rare pixel-level transforms (kept when we pass our own list)."""
    import albumentations as A

    return [A.Blur(p=0.01), A.MedianBlur(p=0.01), A.ToGray(p=0.01), A.CLAHE(p=0.01)]


def ultralytics_args(cfg: AugmentConfig) -> dict[str, Any]:
    """Map the config onto ``model.train(**kwargs)`` arguments of ultralytics."""
    cfg = cfg.resolved()
    args: dict[str, Any] = {
        "fliplr": cfg.fliplr,
        "flipud": cfg.flipud,
        "hsv_h": cfg.hsv_h,
        "hsv_s": cfg.hsv_s,
        "hsv_v": cfg.hsv_v,
        "scale": cfg.scale,
        "translate": cfg.translate,
        "degrees": 0.0,
        "mosaic": cfg.mosaic,
        "close_mosaic": cfg.close_mosaic,
    }
    if cfg.rot90 > 0:
        import albumentations as A

        args["augmentations"] = [*_stock_light_transforms(), A.RandomRotate90(p=cfg.rot90)]
    return args


def albumentations_pipeline(cfg: AugmentConfig, *, min_visibility: float = 0.3) -> Any:
    """Train-time ``albumentations.Compose`` on RGB uint8 images and ``pascal_voc`` boxes.

    Call as ``t(image=img, bboxes=xyxy_list, labels=label_list)``. Boxes left with less
    than ``min_visibility`` of their area after scaling/cropping are dropped.
    """
    import albumentations as A

    cfg = cfg.resolved()
    hue = int(round(cfg.hsv_h * 180))
    sat = int(round(cfg.hsv_s * 100 * 0.5))
    val = int(round(cfg.hsv_v * 100 * 0.5))
    ops: list[Any] = [
        A.HorizontalFlip(p=cfg.fliplr),
        A.VerticalFlip(p=cfg.flipud),
        A.RandomRotate90(p=cfg.rot90),
        A.HueSaturationValue(hue_shift_limit=hue, sat_shift_limit=sat, val_shift_limit=val, p=0.8),
    ]
    if cfg.scale > 0:
        ops.append(A.Affine(scale=(1 - cfg.scale * 0.5, 1 + cfg.scale * 0.5), p=0.5, fit_output=False))
    return A.Compose(
        ops,
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=min_visibility),
    )
