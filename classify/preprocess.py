"""Crop preprocessing: named enhancement steps, augmentation, and tensor batching.

Every model declares a :class:`PreprocessCfg` (input size, mean, std, enhancement steps),
like timm's ``pretrained_cfg``; code that feeds crops to a model reads it from the model
(``clf.preprocess``), never from a separate YAML copy.

Enhancement steps (RGB uint8 ``(H, W, 3)`` -> RGB uint8, same shape), applied in order
before resizing; registered by name in :data:`STEPS`:

- ``stain_norm``: illumination / stain normalisation -- per-channel robust stretch so the
  background (the 99th percentile) maps to white and the 1st percentile to black. Removes
  colour casts that differ between cameras and stainings.
- ``grayworld``: grey-world white balance (each channel scaled to the common mean).
- ``log``: Laplacian-of-Gaussian sharpening ``I - alpha * LoG_sigma(I)`` per channel.
- ``logmh``: LoG + high-boost ("LoGMH"): high-boost ``I + k * (I - G_sigma * I)``
  followed by the LoG sharpening above.

Augmentation (training only) uses albumentations: random resized crop (crop + zoom),
rotation, horizontal/vertical flips and colour jitter, configured by :class:`AugmentCfg`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessCfg:
    """What a model expects: square ``input_size`` px RGB, ``(x / 255 - mean) / std``."""

    input_size: int = 128
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    steps: tuple[str, ...] = ()

    def with_(self, **kw) -> PreprocessCfg:
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if v is not None}
        return replace(self, **kw)


@dataclass(frozen=True)
class AugmentCfg:
    """Training augmentation; ``enabled=False`` turns all of it off."""

    enabled: bool = True
    scale: tuple[float, float] = (0.7, 1.0)  # random resized crop area fraction (crop + zoom)
    rotate: float = 180.0  # max degrees either way (cells have no orientation)
    hflip: float = 0.5
    vflip: float = 0.5
    brightness: float = 0.15
    contrast: float = 0.15
    saturation: float = 0.15
    hue: float = 0.03
    p_color: float = 0.8


def _stain_norm(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float32)
    lo = np.percentile(x, 1, axis=(0, 1))
    hi = np.percentile(x, 99, axis=(0, 1))
    x = (x - lo) / np.maximum(hi - lo, 1.0) * 255.0
    return np.clip(x, 0, 255).astype(np.uint8)


def _grayworld(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float32)
    means = x.reshape(-1, 3).mean(axis=0)
    x *= means.mean() / np.maximum(means, 1.0)
    return np.clip(x, 0, 255).astype(np.uint8)


def _log_sharpen(x: np.ndarray, sigma: float = 1.0, alpha: float = 0.7) -> np.ndarray:
    from scipy.ndimage import gaussian_laplace

    lap = np.stack([gaussian_laplace(x[..., c], sigma) for c in range(3)], axis=-1)
    return x - alpha * sigma * sigma * lap  # scale-normalised LoG


def _log(img: np.ndarray) -> np.ndarray:
    return np.clip(_log_sharpen(img.astype(np.float32)), 0, 255).astype(np.uint8)


def _logmh(img: np.ndarray, sigma: float = 2.0, k: float = 0.6) -> np.ndarray:
    import cv2

    x = img.astype(np.float32)
    blur = cv2.GaussianBlur(x, (0, 0), sigma)
    boosted = x + k * (x - blur)
    return np.clip(_log_sharpen(boosted), 0, 255).astype(np.uint8)


STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "stain_norm": _stain_norm,
    "grayworld": _grayworld,
    "log": _log,
    "logmh": _logmh,
}


def apply_steps(img: np.ndarray, steps: Sequence[str]) -> np.ndarray:
    """Apply named enhancement steps in order; unknown names raise ValueError."""
    for s in steps:
        if s not in STEPS:
            raise ValueError(f"Unknown preprocessing step {s!r}. Valid: {', '.join(sorted(STEPS))}")
        img = STEPS[s](img)
    return img


def resize_square(img: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB crop to ``(size, size, 3)`` (area when shrinking, linear when growing)."""
    import cv2

    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if max(img.shape[:2]) > size else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def build_augment(cfg: AugmentCfg, size: int):
    """albumentations pipeline producing ``(size, size, 3)`` uint8, or None when disabled."""
    if not cfg.enabled:
        return None
    import albumentations as A
    import cv2

    return A.Compose(
        [
            A.Rotate(limit=cfg.rotate, border_mode=cv2.BORDER_REFLECT_101, p=1.0 if cfg.rotate else 0.0),
            A.RandomResizedCrop(size=(size, size), scale=tuple(cfg.scale), ratio=(0.9, 1.1), p=1.0),
            A.HorizontalFlip(p=cfg.hflip),
            A.VerticalFlip(p=cfg.vflip),
            A.ColorJitter(
                brightness=cfg.brightness, contrast=cfg.contrast, saturation=cfg.saturation, hue=cfg.hue, p=cfg.p_color
            ),
        ]
    )


def prepare_crop(img: np.ndarray, pre: PreprocessCfg) -> np.ndarray:
    """Enhancement steps + resize: RGB uint8 -> ``(S, S, 3)`` uint8, ``S = pre.input_size``."""
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"crops must be RGB uint8 (H, W, 3), got {img.dtype} {img.shape}")
    return resize_square(apply_steps(img, pre.steps), pre.input_size)


def to_tensor(crops: Sequence[np.ndarray], pre: PreprocessCfg):
    """List of ``(S, S, 3)`` uint8 (already prepared) -> float tensor ``(N, 3, S, S)``, normalised."""
    import torch

    arr = np.stack([np.asarray(c) for c in crops]).astype(np.float32) / 255.0
    arr = (arr - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


def batch_tensor(crops: Sequence[np.ndarray], pre: PreprocessCfg):
    """Raw RGB crops of any size -> model input ``(N, 3, S, S)`` via :func:`prepare_crop`."""
    return to_tensor([prepare_crop(c, pre) for c in crops], pre)
