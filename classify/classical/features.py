"""Feature sets of the classical pipelines, each a pure function of one segmented cell.

Every feature set has the signature ``fn(rgb, nucleus, cell) -> (D,) float64`` where
``rgb`` is RGB uint8 ``(H, W, 3)`` and ``nucleus`` / ``cell`` are boolean masks
``(H, W)`` (``cell`` includes the nucleus). Registered by name in :data:`FEATURES`, with
their column names in :func:`feature_names`. Empty masks give zeros, never NaN.

- ``glcm``: grey-level co-occurrence matrix (scikit-image ``graycomatrix`` /
  ``graycoprops``) of the grey image quantised to 16 levels over the nucleus's own grey
  range (:func:`.texture.quantise`), **inside the nucleus only**
  (pixels outside get an extra level 0 whose row and column are dropped before the
  properties), distance 1, symmetric, averaged over 0/45/90/135 degrees: contrast,
  dissimilarity, homogeneity, energy, correlation, ASM, entropy.
- ``glrlm``: grey-level run-length features (:mod:`.texture`), 16 levels, inside the
  nucleus, averaged over four directions.
- ``lbp``: uniform LBP (scikit-image, P=8, R=1) histogram inside the nucleus (10 bins).
- ``ldp``: local directional pattern (Kirsch, k=3) histogram inside the nucleus (56 bins).
- ``shape``: nucleus area / image area, perimeter^2 / (4 pi area), eccentricity, solidity,
  extent, major/minor axis ratio, equivalent diameter / image side, number of nucleus
  components (lobes), nucleus/cell area ratio, cell area / image area, cell
  perimeter^2 / (4 pi area).
- ``colour``: mean and std of R, G, B, H, S, V (all in [0, 1], scikit-image HSV) inside the
  nucleus and inside the cytoplasm (cell minus nucleus): 24 values.
- ``firstorder``: grey-level statistics inside the nucleus (grey = (R + G + B) / 3):
  mean, std, skewness, excess kurtosis, entropy (32-bin histogram, bits), energy (sum of
  squared bin probabilities), min, p10, median, p90, max, range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leukoscan.errors import ConfigError

from .texture import GLRLM_NAMES, glrlm_descriptor, ldp_code_table, ldp_histogram, quantise

N_LEVELS = 16
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM", "entropy")
ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def grey(rgb: np.ndarray) -> np.ndarray:
    """Mean of R, G, B as uint8 ``(H, W)``."""
    return np.asarray(rgb)[..., :3].astype(np.float32).mean(axis=2).round().astype(np.uint8)


def glcm_matrix(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """Co-occurrence counts ``(n_levels, n_levels, 1, 4)`` of quantised ``levels`` (0 = outside)."""
    from skimage.feature import graycomatrix

    p = graycomatrix(
        levels.astype(np.uint8), distances=[1], angles=list(ANGLES), levels=n_levels + 1, symmetric=True, normed=False
    )
    return p[1:, 1:]


def glcm(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    from skimage.feature import graycoprops

    p = glcm_matrix(quantise(grey(rgb), nucleus, N_LEVELS), N_LEVELS).astype(np.float64)
    sums = p.sum(axis=(0, 1))  # (1, 4)
    if not (sums > 0).all():
        return np.zeros(len(GLCM_PROPS))
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = [graycoprops(p, prop)[0] for prop in GLCM_PROPS]
    return np.nan_to_num(np.array([v.mean() for v in vals]), nan=1.0)  # correlation of a flat region -> 1


def glrlm(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    return glrlm_descriptor(quantise(grey(rgb), nucleus, N_LEVELS), N_LEVELS)


def lbp(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    codes = local_binary_pattern(grey(rgb), P=8, R=1, method="uniform")[np.asarray(nucleus, bool)]
    hist = np.bincount(codes.astype(int), minlength=10)[:10].astype(np.float64)
    return hist / hist.sum() if hist.sum() else hist


def ldp(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    return ldp_histogram(grey(rgb), nucleus)


def _region(mask: np.ndarray):
    from skimage import measure

    return measure.regionprops(np.asarray(mask, np.uint8))[0]


def _compactness(p) -> float:
    return float(p.perimeter**2 / (4 * np.pi * p.area)) if p.area else 0.0


def shape(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    from skimage import measure

    nucleus, cell = np.asarray(nucleus, bool), np.asarray(cell, bool) | np.asarray(nucleus, bool)
    if not nucleus.any():
        return np.zeros(11)
    h, w = nucleus.shape
    p, c = _region(nucleus), _region(cell)
    ratio = p.axis_major_length / p.axis_minor_length if p.axis_minor_length > 0 else 1.0
    return np.array(
        [
            p.area / nucleus.size,
            _compactness(p),
            p.eccentricity,
            p.solidity,
            p.extent,
            ratio,
            p.equivalent_diameter_area / min(h, w),
            float(measure.label(nucleus).max()),
            p.area / c.area,
            c.area / cell.size,
            _compactness(c),
        ]
    )


def colour(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2hsv

    rgb = np.asarray(rgb)[..., :3]
    x = np.concatenate([rgb.astype(np.float64) / 255.0, rgb2hsv(rgb)], axis=2)  # (H, W, 6)
    nucleus = np.asarray(nucleus, bool)
    out = []
    for region in (nucleus, np.asarray(cell, bool) & ~nucleus):
        px = x[region]
        out += [*px.mean(axis=0), *px.std(axis=0)] if len(px) else [0.0] * 12
    return np.array(out)


def firstorder(rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    from scipy import stats

    v = grey(rgb)[np.asarray(nucleus, bool)].astype(np.float64)
    if len(v) == 0:
        return np.zeros(12)
    hist = np.bincount((v // 8).astype(int), minlength=32) / len(v)
    nz = hist[hist > 0]
    sd = v.std()
    skew = float(stats.skew(v)) if sd > 0 else 0.0
    kurt = float(stats.kurtosis(v)) if sd > 0 else 0.0
    p10, med, p90 = np.percentile(v, [10, 50, 90])
    return np.array(
        [
            v.mean(),
            sd,
            skew,
            kurt,
            float(-(nz * np.log2(nz)).sum()),
            float((hist**2).sum()),
            v.min(),
            p10,
            med,
            p90,
            v.max(),
            v.max() - v.min(),
        ]
    )


FeatureFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
FEATURES: dict[str, FeatureFn] = {
    "glcm": glcm,
    "glrlm": glrlm,
    "lbp": lbp,
    "ldp": ldp,
    "shape": shape,
    "colour": colour,
    "firstorder": firstorder,
}


def feature_names(name: str) -> list[str]:
    """Column names of feature set ``name``."""
    cols = {
        "glcm": [f"glcm_{p}" for p in GLCM_PROPS],
        "glrlm": [f"glrlm_{n}" for n in GLRLM_NAMES],
        "lbp": [f"lbp_{i}" for i in range(10)],
        "ldp": [f"ldp_{c}" for c in ldp_code_table(3)],
        "shape": [
            "nuc_area_frac",
            "nuc_compactness",
            "nuc_eccentricity",
            "nuc_solidity",
            "nuc_extent",
            "nuc_axis_ratio",
            "nuc_eq_diam_frac",
            "nuc_components",
            "nc_ratio",
            "cell_area_frac",
            "cell_compactness",
        ],
        "colour": [
            f"{reg}_{st}_{ch}"
            for reg in ("nuc", "cyto")
            for st in ("mean", "std")
            for ch in ("R", "G", "B", "H", "S", "V")
        ],
        "firstorder": [
            "mean",
            "std",
            "skewness",
            "kurtosis",
            "entropy",
            "energy",
            "min",
            "p10",
            "median",
            "p90",
            "max",
            "range",
        ],
    }
    if name not in cols:
        raise ConfigError(f"Unknown feature set {name!r}. Valid: {', '.join(FEATURES)}")
    return cols[name]


def compute(names: tuple[str, ...] | list[str], rgb: np.ndarray, nucleus: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Concatenated feature sets ``names`` for one cell, float64 ``(D,)``, NaN/inf -> 0."""
    for n in names:
        if n not in FEATURES:
            raise ConfigError(f"Unknown feature set {n!r}. Valid: {', '.join(FEATURES)}")
    v = np.concatenate([FEATURES[n](rgb, nucleus, cell) for n in names])
    return np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
