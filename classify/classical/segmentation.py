"""Nucleus and cell segmentation for the classical (seed-review) pipelines.

Every method maps an RGB uint8 image ``(H, W, 3)`` to a boolean nucleus mask ``(H, W)``.
With ``central=True`` (single-cell crops, ALL-IDB2 style) only the nucleus of the cell
nearest the centre is kept (the best big-and-central component plus the components near
it, so a lobed nucleus keeps its lobes); with ``central=False`` (whole slides) every
nucleus-sized component is kept.

All methods work on the same per-pixel *nucleus score* ``B - G`` (Giemsa/Wright-stained
nuclei are purple: blue well above green; red cells and background are not). It was
chosen by looking at ALL-IDB2 crops: Otsu on ``B - G`` isolates the nucleus where Otsu on
grey level or saturation also picks up red cells. The methods (names registered in
:data:`METHODS`):

- ``otsu``: global Otsu threshold of the smoothed score (scikit-image).
- ``watershed``: marker-controlled watershed (scikit-image) on the Sobel gradient of the
  score; markers: score below / above thresholds halfway between Otsu's and the 1st /
  99th percentile.
- ``kmeans``: k-means (scikit-learn, k=3) on per-pixel ``(score, darkness)``; the cluster
  with the highest mean score is nucleus.
- ``kmedoids``: k-medoids (k=3, alternating Voronoi iteration, small implementation here:
  sklearn-extra is not a dependency) on a pixel subsample; every pixel then goes to its
  nearest medoid.
- ``fcm``: fuzzy c-means (scikit-fuzzy ``cmeans``, c=3, m=2) on a subsample of
  ``MAX_FIT_PIXELS / 2`` pixels; every
  pixel then goes to the cluster of highest membership (= nearest centre).

Known limit: a strongly stained cytoplasm (``B - G`` ~40, more than ALL-IDB2 shows, where
it is ~0-30 against ~60-95 in nuclei) is merged into the nucleus by the 2-class ``otsu`` and
sometimes by 3-cluster ``kmedoids``.

Clustering methods fit on at most ``MAX_FIT_PIXELS`` pixels (seeded subsample) for speed.
An image without contrast (score range < ``MIN_RANGE``) gives an empty mask.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leukoscan.errors import BadInputError, ConfigError

MIN_RANGE = 20.0  # B - G grey levels
MAX_FIT_PIXELS = 4000
K_CLUSTERS = 3


def nucleus_score(rgb: np.ndarray) -> np.ndarray:
    """``B - G`` as float32 ``(H, W)`` (range -255..255)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise BadInputError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    return rgb[..., 2].astype(np.float32) - rgb[..., 1].astype(np.float32)


def _smooth(x: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(x, sigma)


def _flat(score: np.ndarray) -> bool:
    lo, hi = np.percentile(score, [1, 99])
    return float(hi - lo) < MIN_RANGE


def _otsu(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    from skimage.filters import threshold_otsu

    s = _smooth(nucleus_score(rgb))
    if _flat(s):
        return np.zeros(s.shape, bool)
    return s > threshold_otsu(s)


def _watershed(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    from skimage.filters import sobel, threshold_otsu
    from skimage.segmentation import watershed

    s = _smooth(nucleus_score(rgb))
    if _flat(s):
        return np.zeros(s.shape, bool)
    t = threshold_otsu(s)
    p1, p99 = np.percentile(s, [1, 99])
    markers = np.zeros(s.shape, np.int32)
    markers[s < t - 0.5 * (t - p1)] = 1
    markers[s > t + 0.5 * (p99 - t)] = 2
    if not (markers == 2).any():
        return s > t
    return watershed(sobel(s), markers) == 2


def _pixel_features(rgb: np.ndarray) -> np.ndarray:
    """``(H*W, 2)`` float32: 2 x nucleus score and darkness (255 - grey), both / 255.

    The score is weighted double so clusters split by stain colour before lightness
    (otherwise a small nucleus is absorbed by a "dark" cluster of red cells).
    """
    s = nucleus_score(rgb).reshape(-1)
    dark = 255.0 - rgb[..., :3].astype(np.float32).mean(axis=2).reshape(-1)
    return np.stack([2.0 * s, dark], axis=1) / np.float32(255.0)


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    rng = np.random.default_rng(seed)
    return x[rng.choice(len(x), n, replace=False)]


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def _cluster_mask(rgb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Pixels nearest the centre with the highest score coordinate."""
    x = _pixel_features(rgb)
    lab = _nearest(x, centres)
    return (lab == int(np.argmax(centres[:, 0]))).reshape(rgb.shape[:2])


def _kmeans(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    if _flat(nucleus_score(rgb)):
        return np.zeros(rgb.shape[:2], bool)
    x = _subsample(_pixel_features(rgb), MAX_FIT_PIXELS, seed)
    km = KMeans(n_clusters=K_CLUSTERS, n_init=3, random_state=seed).fit(x)
    return _cluster_mask(rgb, km.cluster_centers_)


def kmedoids(x: np.ndarray, k: int, *, seed: int = 0, max_iter: int = 20) -> np.ndarray:
    """Medoid indices ``(k,)`` into ``x`` ``(N, D)`` (alternating Voronoi iteration).

    Initialisation is k-means++-style seeding (seeded); each iteration assigns points to
    the nearest medoid and moves each medoid to the member with the least total distance
    to its cluster. Stops when the medoids stop changing.
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    if n < k:
        raise ValueError(f"k-medoids needs at least k={k} points, got {n}")
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    med = [int(rng.integers(n))]
    for _ in range(1, k):
        dmin = d[:, med].min(axis=1) ** 2
        med.append(int(rng.choice(n, p=dmin / dmin.sum())) if dmin.sum() > 0 else int(rng.integers(n)))
    medoids = np.array(med)
    for _ in range(max_iter):
        lab = d[:, medoids].argmin(axis=1)
        new = medoids.copy()
        for c in range(k):
            members = np.flatnonzero(lab == c)
            if len(members):
                new[c] = members[d[np.ix_(members, members)].sum(axis=1).argmin()]
        if np.array_equal(new, medoids):
            break
        medoids = new
    return medoids


def _kmedoids(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    if _flat(nucleus_score(rgb)):
        return np.zeros(rgb.shape[:2], bool)
    x = _subsample(_pixel_features(rgb), 1500, seed)  # O(N^2) distance matrix
    return _cluster_mask(rgb, x[kmedoids(x, K_CLUSTERS, seed=seed)])


def _fcm(rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    import skfuzzy

    if _flat(nucleus_score(rgb)):
        return np.zeros(rgb.shape[:2], bool)
    x = _subsample(_pixel_features(rgb), MAX_FIT_PIXELS // 2, seed)
    centres, *_ = skfuzzy.cluster.cmeans(x.T, c=K_CLUSTERS, m=2.0, error=1e-3, maxiter=100, seed=seed)
    return _cluster_mask(rgb, centres)


METHODS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "otsu": _otsu,
    "watershed": _watershed,
    "kmeans": _kmeans,
    "kmedoids": _kmedoids,
    "fcm": _fcm,
}


def _clean(mask: np.ndarray, min_frac: float) -> np.ndarray:
    from scipy import ndimage as ndi
    from skimage import morphology

    mask = ndi.binary_opening(mask, iterations=1)
    min_size = max(4, int(min_frac * mask.size))
    return morphology.remove_small_objects(mask, max_size=min_size - 1)


def _central(mask: np.ndarray) -> np.ndarray:
    """Big-and-central component plus nearby components (lobes) of at least 10 % its area."""
    from scipy import ndimage as ndi
    from skimage import measure

    lab = measure.label(mask)
    if lab.max() == 0:
        return mask
    h, w = mask.shape
    props = measure.regionprops(lab)

    def score(p) -> float:
        y, x = p.centroid
        return p.area / (1.0 + ((y - h / 2) ** 2 + (x - w / 2) ** 2) / (0.05 * h * w))

    best = max(props, key=score)
    by, bx = best.centroid
    keep = [
        p.label
        for p in props
        if p.area >= 0.1 * best.area and np.hypot(p.centroid[0] - by, p.centroid[1] - bx) <= 0.3 * min(h, w)
    ]
    return ndi.binary_fill_holes(np.isin(lab, keep))


def segment_nucleus(
    rgb: np.ndarray, method: str = "otsu", *, central: bool = True, seed: int = 0, min_frac: float = 0.002
) -> np.ndarray:
    """Boolean nucleus mask ``(H, W)`` by ``method`` (see :data:`METHODS`).

    ``min_frac``: components smaller than this fraction of the image are dropped.
    """
    if method not in METHODS:
        raise ConfigError(f"Unknown segmentation {method!r}. Valid: {', '.join(METHODS)}")
    mask = _clean(METHODS[method](np.asarray(rgb)[..., :3], seed), min_frac)
    if central:
        return _central(mask)
    from scipy import ndimage as ndi

    return ndi.binary_fill_holes(mask)


def segment_cell(rgb: np.ndarray, nucleus: np.ndarray, *, max_scale: float = 1.8) -> np.ndarray:
    """Boolean whole-cell mask ``(H, W)`` around ``nucleus`` (approximation).

    Foreground = nucleus score above the background median by a quarter of the
    nucleus-background contrast (bluish cytoplasm; pink red cells stay below); the cell is the
    foreground component(s) touching the dilated nucleus, limited to a disc of
    ``max_scale`` x the nucleus equivalent radius around its centroid (red cells touching
    the leukocyte are cut off there), united with the nucleus and hole-filled. An empty
    nucleus gives an empty cell.
    """
    from scipy import ndimage as ndi
    from skimage import measure

    nucleus = np.asarray(nucleus, bool)
    if not nucleus.any():
        return np.zeros(nucleus.shape, bool)
    s = _smooth(nucleus_score(rgb))
    bg = float(np.median(s[~nucleus])) if (~nucleus).any() else float(s.min())
    fg = s > bg + 0.25 * (float(s[nucleus].mean()) - bg)  # bluish cytoplasm, not pink red cells
    lab = measure.label(fg | nucleus)
    touch = np.unique(lab[ndi.binary_dilation(nucleus, iterations=2) & (lab > 0)])
    cell = np.isin(lab, touch)
    yy, xx = np.nonzero(nucleus)
    r = np.sqrt(len(yy) / np.pi) * max_scale
    gy, gx = np.mgrid[: nucleus.shape[0], : nucleus.shape[1]]
    disc = (gy - yy.mean()) ** 2 + (gx - xx.mean()) ** 2 <= r * r
    return ndi.binary_fill_holes((cell & disc) | nucleus)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0
