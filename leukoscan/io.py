"""Image reading with clear errors and limits, and atomic file writes.

``read_image`` returns an RGB ``uint8`` array of shape ``(H, W, 3)`` for JPEG, PNG, BMP
and TIFF inputs (8- or 16-bit, grayscale, RGB or RGBA). Anything else raises
``ImageReadError`` naming the file. ``load_image`` returns the same array plus notes on
how it was read (e.g. 12-bit data found in a 16-bit file).

Limits (checked from the file header, before the pixels are decoded):

- ``max_pixels``: larger images are refused (default :data:`MAX_PIXELS`, 50 megapixels,
  ~20x a 2592x1944 ALL-IDB1 slide; env ``LEUKOSCAN_MAX_PIXELS`` or ``--max-pixels``).
- ``min_side``: images with a shorter side are refused (callers that analyse whole slides
  pass :data:`MIN_SIDE`).

Bit depth: 16-bit data are scaled by the largest value the data can hold, found from the
data (10, 12, 14 or 16 bits): a 12-bit camera image stored in 16 bits is scaled by
255/4095, not read as nearly black.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.errors import BadInputError, ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 50_000_000  # ~20x a 2592x1944 slide; a 20000x20000 image would need ~4.4 GB
MIN_SIDE = 32  # px: a slide smaller than a few leukocytes is not a slide
_BIT_DEPTHS = (10, 12, 14, 16)


class ImageReadError(BadInputError):
    """An input image that cannot be read; the message names the file."""


@dataclass
class LoadedImage:
    """``array``: RGB uint8 (H, W, 3); ``notes``: how it was read, for the cell table."""

    array: np.ndarray
    notes: list[str] = field(default_factory=list)
    bit_depth: int = 8


def max_pixels_default() -> int:
    """``LEUKOSCAN_MAX_PIXELS`` when set (a positive integer), else :data:`MAX_PIXELS`."""
    env = os.environ.get("LEUKOSCAN_MAX_PIXELS", "").strip()
    if not env:
        return MAX_PIXELS
    if not env.isdigit() or int(env) <= 0:
        raise ConfigError(f"LEUKOSCAN_MAX_PIXELS must be a positive integer, got {env!r}")
    return int(env)


def _check_size(path: Path, width: int, height: int, max_pixels: int | None, min_side: int) -> None:
    limit = max_pixels_default() if max_pixels is None else max_pixels
    if width * height > limit:
        raise ImageReadError(
            f"{path}: image too large ({width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"limit {limit / 1e6:g} MP, set with --max-pixels or LEUKOSCAN_MAX_PIXELS)"
        )
    if min(width, height) < min_side:
        raise ImageReadError(
            f"{path}: image too small ({width}x{height} px; a slide needs at least {min_side} px on each side)"
        )


def _bit_depth(arr: np.ndarray) -> int:
    """Bits the data of a 16-bit array actually use (10, 12, 14 or 16), from its largest value."""
    hi = int(arr.max()) if arr.size else 0
    return next((b for b in _BIT_DEPTHS if hi < 2**b), 16)


def _to_rgb8(arr: np.ndarray, path: Path, notes: list[str] | None = None) -> np.ndarray:
    if arr.dtype == np.uint16:
        bits = _bit_depth(arr)
        if bits < 16 and notes is not None:
            notes.append(f"{bits}-bit data in a 16-bit file (max value {int(arr.max())}): scaled by 255/{2**bits - 1}")
        arr = (arr.astype(np.float32) * (255.0 / (2**bits - 1))).round().clip(0, 255).astype(np.uint8)
    elif arr.dtype in (np.float32, np.float64):
        hi = 1.0 if float(np.nanmax(arr)) <= 1.0 else 255.0
        arr = np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        raise ImageReadError(f"{path}: unsupported pixel type {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageReadError(f"{path}: unsupported image shape {arr.shape}")
    return np.ascontiguousarray(arr)


EXIF_ORIENTATION = 0x0112  # the EXIF "Orientation" tag (1 = upright)


def _read_tiff(path: Path, max_pixels: int | None, min_side: int, notes: list[str]) -> np.ndarray:
    """The first page (a multi-page TIFF's others are named in ``notes``, not stacked)."""
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            page = tif.pages[0]
            shape = page.shape
            planar = len(shape) == 3 and shape[0] in (3, 4) and shape[2] not in (3, 4)
            h, w = (shape[1], shape[2]) if planar else (shape[0], shape[1] if len(shape) > 1 else 1)
            _check_size(path, int(w), int(h), max_pixels, min_side)
            arr = page.asarray()
            if len(tif.pages) > 1:
                notes.append(f"multi-page TIFF ({len(tif.pages)} pages): only the first page was analysed")
    except ImageReadError:
        raise
    except Exception as e:  # tifffile raises many types
        raise ImageReadError(f"{path}: not a readable TIFF ({e})") from e
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar -> interleaved
    return arr


def _read_pil(path: Path, max_pixels: int | None, min_side: int, notes: list[str]) -> np.ndarray:
    """Decoded and turned upright by its EXIF orientation (as every viewer shows it; said in ``notes``)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = max_pixels_default() if max_pixels is None else max_pixels
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # our own limit below, checked from the header
        with Image.open(path) as im:
            _check_size(path, im.width, im.height, limit, min_side)
            im.load()  # forces full decode: truncated files raise here
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
            if orientation not in (1, None):
                im = ImageOps.exif_transpose(im)
                notes.append(
                    f"EXIF orientation {orientation} applied: analysed as displayed, {im.width}x{im.height} px"
                )
            if getattr(im, "n_frames", 1) > 1:
                notes.append(f"multi-frame image ({im.n_frames} frames): only the first frame was analysed")
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint32)
                if arr.max(initial=0) <= 255 and im.mode == "I":
                    arr = arr.astype(np.uint8)
                else:
                    arr = arr.clip(0, 65535).astype(np.uint16)
            elif im.mode in ("RGB", "L", "RGBA", "LA"):
                arr = np.asarray(im)
            else:
                arr = np.asarray(im.convert("RGB"))
    except ImageReadError:
        raise
    except (UnidentifiedImageError, ImportError) as e:
        # ImportError: ultralytics patches Image.open to install a HEIF plugin on
        # UnidentifiedImageError, which fails offline; the file is unreadable either way.
        raise ImageReadError(f"{path}: not a recognised image (content does not match its name)") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from e
    except MemoryError as e:
        raise ImageReadError(f"{path}: not enough memory to decode this image") from e
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return arr


def load_image(path: str | Path, *, max_pixels: int | None = None, min_side: int = 1) -> LoadedImage:
    """Read an image file -> :class:`LoadedImage`; raise ImageReadError on any problem.

    ``max_pixels``: None = :func:`max_pixels_default`. ``min_side``: shortest side allowed (px).
    """
    path = Path(path)
    if not path.is_file():
        what = "dangling symbolic link" if path.is_symlink() else "no such file"
        raise ImageReadError(f"{path}: {what}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageReadError(f"{path}: unsupported file type {path.suffix!r} (supported: {', '.join(IMAGE_SUFFIXES)})")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    tiff = path.suffix.lower() in (".tif", ".tiff")
    notes: list[str] = []
    raw = (_read_tiff if tiff else _read_pil)(path, max_pixels, min_side, notes)
    depth = 8 if raw.dtype == np.uint8 else _bit_depth(raw) if raw.dtype == np.uint16 else 8
    return LoadedImage(_to_rgb8(raw, path, notes), notes, depth)


def read_image(path: str | Path, *, max_pixels: int | None = None, min_side: int = 1) -> np.ndarray:
    """Read an image file -> RGB uint8 ``(H, W, 3)``; raise ImageReadError on any problem."""
    return load_image(path, max_pixels=max_pixels, min_side=min_side).array


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only on success.

    The temporary name is hidden (``.stem.XXXX.tmp.suffix``) and keeps the suffix last so
    format-by-extension writers (OpenCV, PIL) work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


_UMASK: int | None = None


def umask() -> int:
    """The process umask (read once; setting and restoring it is the only portable way)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_image(path: str | Path, rgb: np.ndarray, *, quality: int = 95) -> None:
    """Write an RGB uint8 image atomically (format from the suffix; ``quality`` 1-100 for JPEG)."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if Path(path).suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write image {path}")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
