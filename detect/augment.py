"""Shared augmentation config for every detector backend.

The same :class:`AugmentConfig` drives
- YOLO: mapped to ultralytics' own train arguments (:func:`ultralytics_args`), with
  the 90-degree rotation passed as a custom albumentations transform;
- Faster R-CNN: an albumentations pipeline (:func:`albumentations_pipeline`) on
  ``pascal_voc`` boxes (``xyxy`` pixels).

Defaults, chosen by measurement (``benchmarks/README.md``, "Augmentation ablation"):
horizontal flips, HSV (stain/illumination) jitter, scale, translate and mosaic, i.e.
ultralytics' stock recipe, so YOLO training here is exactly ``yolo train``. Against no
augmentation it is worth +0.196 BCCD mAP50 at 30 epochs (platelets are not learnt at all
without it). A smear has no up or down, so vertical flips and 90-degree rotations look
like free extra data, and they were the first default (``preset="microscopy"``). Trained
from scratch at this project's CPU budgets they did not help: on BCCD -0.027 mAP50 at
12 epochs (8 paired seeds, 95% interval -0.055 to +0.002) and -0.013 at 30 epochs (the
detector is already close to orientation-invariant on round cells), on ALL-IDB1 no
difference beyond the seed-to-seed spread (two seeds per arm). So the default is the
simpler recipe. They stay one switch away:

- ``preset="none"`` (default): the fields as written;
- ``preset="microscopy"``: + vertical flips and 90-degree rotations (p 0.5 each);
- ``preset="ultralytics"``: stock geometry (no vertical flips, no rotations), the
  baseline in ``benchmarks/detection.py``;
- ``preset="noaug"``: no train-time augmentation at all (every probability and magnitude
  0, ultralytics' rare blur/CLAHE transforms dropped too): the "does augmentation help
  at all" arm of the ablation, and a debugging aid.

A preset sets the fields it names (``flipud`` and ``rot90``; all of them for ``noaug``);
setting one of those fields to a third value as well is an error, never a silent
override.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

PRESETS: dict[str, dict[str, float]] = {
    "none": {},
    "microscopy": {"flipud": 0.5, "rot90": 0.5},
    "ultralytics": {"flipud": 0.0, "rot90": 0.0},
    "noaug": {
        "fliplr": 0.0,
        "flipud": 0.0,
        "rot90": 0.0,
        "hsv_h": 0.0,
        "hsv_s": 0.0,
        "hsv_v": 0.0,
        "scale": 0.0,
        "translate": 0.0,
        "mosaic": 0.0,
    },
}


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities (0..1) and magnitudes; all applied at train time only."""

    fliplr: float = 0.5  # horizontal flip probability
    flipud: float = 0.0  # vertical flip probability (measured: no gain at our budgets)
    rot90: float = 0.0  # probability of a random 90/180/270-degree rotation (idem)
    hsv_h: float = 0.015  # hue jitter, fraction of the hue circle (stain)
    hsv_s: float = 0.7  # saturation jitter, fraction
    hsv_v: float = 0.4  # value (brightness) jitter, fraction
    scale: float = 0.5  # random scale in [1 - scale, 1 + scale]
    translate: float = 0.1  # random translation, fraction of the image (YOLO only)
    mosaic: float = 1.0  # YOLO mosaic probability
    close_mosaic: int = 10  # YOLO: last N epochs without mosaic
    preset: str = "none"  # "none", "microscopy", "ultralytics" or "noaug" (see the module docstring)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            hint = " (YAML reads off/no/false as a boolean: write noaug)" if isinstance(self.preset, bool) else ""
            raise ValueError(f"augment.preset must be one of {sorted(PRESETS)}, got {self.preset!r}{hint}")
        forced = PRESETS[self.preset]
        defaults = {f.name: f.default for f in fields(self)}
        clash = {k: getattr(self, k) for k, v in forced.items() if getattr(self, k) not in (v, defaults[k])}
        if clash:
            sets = ", ".join(f"{k}={v}" for k, v in forced.items())
            got = ", ".join(f"{k}={v}" for k, v in clash.items())
            raise ValueError(
                f"augment.preset={self.preset} sets {sets}, but the config also says {got}; "
                "drop one of the two (augment.preset=none keeps the fields as written)"
            )

    def resolved(self) -> AugmentConfig:
        """The effective config: the fields the preset names set to its values."""
        return replace(self, **PRESETS[self.preset])

    @property
    def is_off(self) -> bool:
        """True when the effective config augments nothing."""
        r = self.resolved()
        return all(getattr(r, k) == 0 for k in PRESETS["noaug"])


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
    elif cfg.is_off:
        args["augmentations"] = []  # also drop ultralytics' rare blur/CLAHE defaults
    return args


def albumentations_pipeline(cfg: AugmentConfig, *, min_visibility: float = 0.3, seed: int | None = None) -> Any:
    """Train-time ``albumentations.Compose`` on RGB uint8 images and ``pascal_voc`` boxes.

    Call as ``t(image=img, bboxes=xyxy_list, labels=label_list)``. Boxes left with less
    than ``min_visibility`` of their area after scaling/cropping are dropped. ``seed``: the
    augmentation stream is reproducible (albumentations >= 2 draws from OS entropy without it).
    """
    import albumentations as A

    cfg = cfg.resolved()
    hue = int(round(cfg.hsv_h * 180))
    sat = int(round(cfg.hsv_s * 100 * 0.5))
    val = int(round(cfg.hsv_v * 100 * 0.5))
    ops: list[Any] = [A.HorizontalFlip(p=cfg.fliplr), A.VerticalFlip(p=cfg.flipud), A.RandomRotate90(p=cfg.rot90)]
    if hue or sat or val:
        ops.append(A.HueSaturationValue(hue_shift_limit=hue, sat_shift_limit=sat, val_shift_limit=val, p=0.8))
    if cfg.scale > 0:
        ops.append(A.Affine(scale=(1 - cfg.scale * 0.5, 1 + cfg.scale * 0.5), p=0.5, fit_output=False))
    return A.Compose(
        ops,
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=min_visibility),
        seed=seed,
    )
