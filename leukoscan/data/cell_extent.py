"""Estimate a leukocyte's box from a centroid, from the image itself (ALL-IDB1).

Rule (measured on ALL-IDB1, checked by drawing boxes on both cameras' images):

1. Stain map: ``ratio = G / ((R + B) / 2 + 1)``, Gaussian-smoothed (sigma = 0.002 x image
   width). Leukocyte nuclei (purple) have low ratios (0.15-0.65 here); background and red
   cells sit near 1.0. ``bg`` = the image's median ratio.
2. Around each point, in a square window of half-size ``0.07 x image width`` (120 px on
   the 1712-px Olympus images, 181 px on the 2592-px Canon ones, enough for the Canon
   images shot at twice the usual magnification), ``level`` = the lowest ratio within
   ``0.015 x width`` of the point. ``contrast = bg - level``.
3. Nucleus mask: ``ratio < level + 0.5 * contrast``, closed with a disk of radius
   ``0.004 x width`` (joins the lobes of a segmented nucleus), holes filled. Touching
   nuclei holding several annotated points (blast and other/ centroids; points closer
   than ``0.02 x width`` count as one) are split between them, each pixel going to the
   geodesically nearest point (flat watershed). The blob is the region containing the
   point, or the nearest one within ``0.015 x width``.
4. Cell box = the blob's bounding box scaled by ``EXPAND`` (1.25) about its centre (the
   cytoplasm around the nucleus), clipped to the image.
5. Leukocyte test (``other/`` points): keep a point only if ``contrast >= MIN_CONTRAST``
   (0.3; red-cell edges and empty spots measure 0.1-0.3, nuclei 0.45-0.85) and the blob's
   equivalent diameter ``>= MIN_NUCLEUS_FRAC x width`` (0.02: 34 px Olympus, 52 px Canon;
   platelets measure 10-30 px, leukocyte nuclei 60-150 px at the usual magnification).
6. Fallback (blast points, which are ground truth and always kept): when no blob passes,
   or its size is outside [0.5, 1.5] x the image's median cell size (touching cells merge
   into one blob), the box is a square of the image's median cell size centred on the
   point; with no measured cell in the image, the median over images of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPAND = 1.25
MIN_CONTRAST = 0.3
MIN_NUCLEUS_FRAC = 0.02
PEAK_FRAC = 0.02
WINDOW_FRAC = 0.07
SEARCH_FRAC = 0.015
CLOSE_FRAC = 0.004
SIGMA_FRAC = 0.002
SIZE_RANGE = (0.5, 1.5)


@dataclass
class Blob:
    """Measurement around one point: ``box`` xyxy pixels (already expanded) or None."""

    x: float
    y: float
    contrast: float
    eq_diameter: float  # pixels; 0 when no blob
    box: np.ndarray | None

    @property
    def side(self) -> float:
        return 0.0 if self.box is None else float(np.sqrt((self.box[2] - self.box[0]) * (self.box[3] - self.box[1])))


def stain_ratio(rgb: np.ndarray) -> np.ndarray:
    """``G / ((R + B) / 2 + 1)`` as float32 (H, W): low on purple nuclei, ~1 elsewhere."""
    f = rgb.astype(np.float32)
    return f[..., 1] / ((f[..., 0] + f[..., 2]) * 0.5 + 1.0)


def _disk(r: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def measure(
    rgb: np.ndarray, points: np.ndarray, bg: float | None = None, seeds: np.ndarray | None = None
) -> list[Blob]:
    """Measure the nucleus-coloured blob around each point (N, 2) ``x, y`` pixels.

    ``seeds`` (M, 2): every annotated point of the image (default ``points``), used to split
    touching nuclei between annotations.
    """
    import cv2
    from scipy import ndimage

    h, w = rgb.shape[:2]
    size = max(h, w)
    if bg is None:
        bg = float(np.median(stain_ratio(rgb[::8, ::8])))
    half, search = int(WINDOW_FRAC * size), SEARCH_FRAC * size
    sigma, close_r = max(SIGMA_FRAC * size, 1.0), max(int(CLOSE_FRAC * size), 1)
    seeds = np.asarray(points if seeds is None else seeds, np.float64).reshape(-1, 2)
    out = []
    for x, y in np.asarray(points, np.float64).reshape(-1, 2):
        x0, y0 = max(int(x) - half, 0), max(int(y) - half, 0)
        x1, y1 = min(int(x) + half + 1, w), min(int(y) + half + 1, h)
        ratio = cv2.GaussianBlur(stain_ratio(rgb[y0:y1, x0:x1]), (0, 0), sigma)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        near = (xx - x) ** 2 + (yy - y) ** 2 <= search**2
        level = float(ratio[near].min()) if near.any() else bg
        contrast = bg - level
        if contrast < MIN_CONTRAST:
            out.append(Blob(x, y, contrast, 0.0, None))
            continue
        mask = (ratio < level + 0.5 * contrast).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(close_r))
        mask = ndimage.binary_fill_holes(mask)
        lab = _split(mask, seeds - [x0, y0], int(PEAK_FRAC * size))
        px, py = int(x) - x0, int(y) - y0
        k = lab[py, px] if 0 <= py < lab.shape[0] and 0 <= px < lab.shape[1] else 0
        if k == 0:
            cand = np.unique(lab[near & (lab > 0)])
            if cand.size == 0:
                out.append(Blob(x, y, contrast, 0.0, None))
                continue
            k = min(cand, key=lambda c: _nearest(lab, c, px, py))
        ys, xs = np.nonzero(lab == k)
        eq = 2.0 * np.sqrt(xs.size / np.pi)
        cx, cy = (xs.min() + xs.max() + 1) / 2 + x0, (ys.min() + ys.max() + 1) / 2 + y0
        bw, bh = (xs.max() - xs.min() + 1) * EXPAND, (ys.max() - ys.min() + 1) * EXPAND
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        out.append(Blob(x, y, contrast, eq, _clip(box, w, h)))
    return out


def _split(mask: np.ndarray, seeds: np.ndarray, min_dist: int) -> np.ndarray:
    """Label ``mask`` (h, w): blobs holding several seeds are split between them (geodesic
    nearest seed); seeds closer than ``min_dist`` count as one."""
    from scipy import ndimage
    from skimage.segmentation import watershed

    h, w = mask.shape
    inside: list[tuple[int, int]] = []
    for x, y in seeds:  # seeds closer than min_dist are one cell: keep the first
        if 0 <= x < w and 0 <= y < h and mask[int(y), int(x)]:
            if all((int(y) - sy) ** 2 + (int(x) - sx) ** 2 >= min_dist**2 for sy, sx in inside):
                inside.append((int(y), int(x)))
    if len(inside) <= 1:
        return ndimage.label(mask)[0]
    markers = np.zeros(mask.shape, np.int32)
    for i, (sy, sx) in enumerate(inside, start=1):
        markers[sy, sx] = i
    lab = watershed(np.zeros(mask.shape, np.float32), markers, mask=mask)  # geodesic Voronoi
    rest, n = ndimage.label(mask & (lab == 0))  # blobs without a seed keep their own label
    lab[rest > 0] = rest[rest > 0] + len(inside)
    return lab


def _nearest(lab: np.ndarray, c: int, px: int, py: int) -> float:
    ys, xs = np.nonzero(lab == c)
    return float(np.min((xs - px) ** 2 + (ys - py) ** 2))


def _clip(box: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.array([max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))])


def is_leukocyte(blob: Blob, image_width: int) -> bool:
    """The documented leukocyte test for ``other/`` points (step 5)."""
    size_ok = blob.eq_diameter >= MIN_NUCLEUS_FRAC * image_width
    return blob.box is not None and blob.contrast >= MIN_CONTRAST and size_ok


def square(x: float, y: float, side: float, w: int, h: int) -> np.ndarray:
    return _clip(np.array([x - side / 2, y - side / 2, x + side / 2, y + side / 2]), w, h)


def size_ok(blob: Blob, median_side: float) -> bool:
    lo, hi = SIZE_RANGE
    return blob.box is not None and lo * median_side <= blob.side <= hi * median_side
