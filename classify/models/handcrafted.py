"""Handcrafted cell features (scikit-image): nucleus shape, GLCM + LBP texture, colour statistics.

``handcrafted_features(crop)`` -> float32 vector ``(D,)`` for one RGB uint8 crop, resized
to ``size`` px first. Steps:

1. Nucleus segmentation by colour: k-means (k=3, OpenCV) on CIE-Lab pixels; the cluster
   with the lowest lightness is "nucleus"; the largest connected component nearest the
   centre is kept and its holes filled. If that fails, the whole centre disc is used.
2. Shape of the nucleus mask (regionprops): area fraction, perimeter^2/area, eccentricity,
   solidity, extent, major/minor axis ratio, number of lobes (convexity-defect proxy:
   1 - solidity), Euler number, and the first 4 Hu moments.
3. Texture on the grey image inside the nucleus bounding box: GLCM (32 grey levels,
   distances 1, 2, 4; 4 angles averaged) contrast, dissimilarity, homogeneity, energy,
   correlation, ASM; uniform LBP (P=8, R=1) histogram inside the nucleus mask (10 bins).
4. Colour: mean and std of R, G, B, H, S, V inside the nucleus and in the rest of the
   cell disc, and the nucleus/rest lightness contrast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leukoscan.classify.model import CachedExtractor
from leukoscan.classify.preprocess import PreprocessCfg, apply_steps, resize_square

GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")


def segment_nucleus(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """Boolean nucleus mask ``(H, W)`` from a cell crop (k-means on Lab, darkest cluster)."""
    import cv2
    from scipy import ndimage as ndi
    from skimage import measure

    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, lbl, centres = cv2.kmeans(lab, 3, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    dark = int(np.argmin(centres[:, 0]))
    mask = lbl.reshape(h, w) == dark
    mask = ndi.binary_opening(mask, iterations=1)
    lab_img = measure.label(mask)
    if lab_img.max() == 0:
        return _centre_disc(h, w, 0.25)
    props = measure.regionprops(lab_img)
    cy, cx = h / 2, w / 2

    def score(p) -> float:  # big and central
        y, x = p.centroid
        return p.area / (1.0 + ((y - cy) ** 2 + (x - cx) ** 2) / (0.1 * h * w))

    best = max(props, key=score)
    return ndi.binary_fill_holes(lab_img == best.label)


def _centre_disc(h: int, w: int, frac: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (frac * min(h, w)) ** 2


def _shape(mask: np.ndarray) -> list[float]:
    from skimage import measure

    p = measure.regionprops(mask.astype(np.uint8))[0]
    area = float(p.area)
    hu = list(p.moments_hu[:4])
    ratio = p.axis_major_length / max(p.axis_minor_length, 1e-6)
    return [
        area / mask.size,
        p.perimeter**2 / max(area, 1.0),
        p.eccentricity,
        p.solidity,
        p.extent,
        ratio,
        1 - p.solidity,
        float(p.euler_number),
        *[float(np.sign(v) * np.log10(abs(v) + 1e-12)) for v in hu],
    ]


def _texture(gray: np.ndarray, mask: np.ndarray) -> list[float]:
    from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

    ys, xs = np.nonzero(mask)
    box = gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    q = (box // 8).astype(np.uint8)  # 32 levels
    glcm = graycomatrix(
        q, distances=[1, 2, 4], angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=32, symmetric=True, normed=True
    )
    feats = [float(graycoprops(glcm, prop).mean(axis=1)[d]) for prop in GLCM_PROPS for d in range(3)]
    lbp = local_binary_pattern(gray, P=8, R=1, method="uniform")
    hist, _ = np.histogram(lbp[mask], bins=10, range=(0, 10))
    return feats + list(hist / max(hist.sum(), 1))


def _colour(rgb: np.ndarray, mask: np.ndarray) -> list[float]:
    import cv2

    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    x = np.concatenate([rgb.astype(np.float32), hsv], axis=2)
    rest = _centre_disc(*mask.shape, 0.45) & ~mask
    if not rest.any():
        rest = ~mask
    out: list[float] = []
    for region in (mask, rest):
        px = x[region] if region.any() else x.reshape(-1, 6)
        out += list(px.mean(axis=0)) + list(px.std(axis=0))
    lum = rgb.astype(np.float32).mean(axis=2)
    out.append(float(lum[rest].mean() - lum[mask].mean()) if rest.any() else 0.0)
    return out


def handcrafted_features(rgb: np.ndarray, size: int = 128) -> np.ndarray:
    """Feature vector ``(D,)`` float32 for an RGB uint8 cell crop (resized to ``size``)."""
    import cv2

    rgb = resize_square(rgb, size)
    mask = segment_nucleus(rgb)
    if mask.sum() < 16:
        mask = _centre_disc(size, size, 0.25)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    v = _shape(mask) + _texture(gray, mask) + _colour(rgb, mask)
    return np.nan_to_num(np.asarray(v, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


class HandcraftedExtractor(CachedExtractor):
    """Nucleus shape + GLCM/LBP texture + colour statistics (:func:`handcrafted_features`)."""

    def __init__(self, preprocess: PreprocessCfg) -> None:
        super().__init__()
        self.preprocess = preprocess

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        size = self.preprocess.input_size
        return np.stack([handcrafted_features(apply_steps(c, self.preprocess.steps), size) for c in crops])
