"""Texture descriptors not in scikit-image: GLRLM (run lengths) and LDP (Kirsch codes).

Small numpy implementations, each tested against hand-computed matrices
(``tests/test_classical_features.py``). pyradiomics (the field's GLRLM reference) did not
install here (source build fails), so GLRLM is implemented after its definitions
(Galloway 1975; feature formulas as in the pyradiomics documentation, not normalised by
direction).

Conventions: ``levels`` is a quantised image ``(H, W)`` of ints in ``1..L``, with ``0``
meaning "outside the region" (a run never crosses a 0 pixel).
"""

from __future__ import annotations

import numpy as np

# Directions as (dy, dx) steps: 0, 45, 90, 135 degrees (image rows grow downwards,
# so 45 degrees runs up and to the right).
DIRECTIONS = ((0, 1), (-1, 1), (1, 0), (1, 1))


def quantise(gray: np.ndarray, mask: np.ndarray, n_levels: int = 16) -> np.ndarray:
    """``gray`` ``(H, W)`` -> levels ``1..n_levels`` inside ``mask``, 0 outside (int32).

    The region's own grey range ``[min, max]`` is cut into ``n_levels`` equal bins
    (texture independent of overall brightness; a flat region is all level 1).
    """
    mask = np.asarray(mask, bool)
    g = np.asarray(gray, np.float64)
    if not mask.any():
        return np.zeros(g.shape, np.int32)
    lo, hi = g[mask].min(), g[mask].max()
    if hi <= lo:
        return mask.astype(np.int32)
    q = np.floor((g - lo) / (hi - lo) * n_levels).clip(0, n_levels - 1).astype(np.int32) + 1
    return np.where(mask, q, 0).astype(np.int32)


def _lines(levels: np.ndarray, d: tuple[int, int]) -> list[np.ndarray]:
    """1-D pixel sequences of ``levels`` along direction ``d``."""
    if d == (0, 1):
        return list(levels)
    if d == (1, 0):
        return list(levels.T)
    if d == (1, 1):
        return [np.diagonal(levels, k) for k in range(-levels.shape[0] + 1, levels.shape[1])]
    flip = levels[::-1]  # (-1, 1): anti-diagonals read bottom-left to top-right
    return [np.diagonal(flip, k) for k in range(-levels.shape[0] + 1, levels.shape[1])]


def glrlm(levels: np.ndarray, n_levels: int, direction: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Grey-level run-length matrix ``(n_levels, max_run)``: entry ``[g-1, r-1]`` counts runs
    of exactly ``r`` consecutive pixels of level ``g`` along ``direction``.

    ``max_run`` = the longest line in that direction; level-0 pixels are not counted.
    """
    lines = _lines(np.asarray(levels), direction)
    max_run = max((len(ln) for ln in lines), default=1)
    out = np.zeros((n_levels, max_run), np.int64)
    for ln in lines:
        if len(ln) == 0:
            continue
        change = np.flatnonzero(np.diff(ln)) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [len(ln)]]))
        vals = ln[starts]
        keep = vals > 0
        np.add.at(out, (vals[keep] - 1, lengths[keep] - 1), 1)
    return out


GLRLM_NAMES = ("SRE", "LRE", "GLN", "RLN", "RP", "LGRE", "HGRE", "SRLGE", "SRHGE", "LRLGE", "LRHGE")


def glrlm_features(p: np.ndarray, n_pixels: int) -> np.ndarray:
    """The 11 classic run-length features (:data:`GLRLM_NAMES`) of one matrix ``p``.

    ``n_pixels``: pixels in the region (for run percentage). All zeros if ``p`` is empty.
    """
    p = np.asarray(p, np.float64)
    nr = p.sum()
    if nr == 0:
        return np.zeros(len(GLRLM_NAMES))
    g = np.arange(1, p.shape[0] + 1, dtype=np.float64)[:, None]
    r = np.arange(1, p.shape[1] + 1, dtype=np.float64)[None, :]
    return np.array(
        [
            (p / r**2).sum() / nr,  # short-run emphasis
            (p * r**2).sum() / nr,  # long-run emphasis
            (p.sum(axis=1) ** 2).sum() / nr,  # grey-level non-uniformity
            (p.sum(axis=0) ** 2).sum() / nr,  # run-length non-uniformity
            nr / max(n_pixels, 1),  # run percentage
            (p / g**2).sum() / nr,  # low grey-level run emphasis
            (p * g**2).sum() / nr,  # high grey-level run emphasis
            (p / (g**2 * r**2)).sum() / nr,
            (p * g**2 / r**2).sum() / nr,
            (p * r**2 / g**2).sum() / nr,
            (p * g**2 * r**2).sum() / nr,
        ]
    )


def glrlm_descriptor(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """:func:`glrlm_features` averaged over the four :data:`DIRECTIONS` ``(11,)``."""
    n = int((np.asarray(levels) > 0).sum())
    return np.mean([glrlm_features(glrlm(levels, n_levels, d), n) for d in DIRECTIONS], axis=0)


# Kirsch compass masks M0..M7 (east, north-east, north, ..., south-east), Jabid et al. 2010.
KIRSCH = np.array(
    [
        [[-3, -3, 5], [-3, 0, 5], [-3, -3, 5]],
        [[-3, 5, 5], [-3, 0, 5], [-3, -3, -3]],
        [[5, 5, 5], [-3, 0, -3], [-3, -3, -3]],
        [[5, 5, -3], [5, 0, -3], [-3, -3, -3]],
        [[5, -3, -3], [5, 0, -3], [5, -3, -3]],
        [[-3, -3, -3], [5, 0, -3], [5, 5, -3]],
        [[-3, -3, -3], [-3, 0, -3], [5, 5, 5]],
        [[-3, -3, -3], [-3, 0, 5], [-3, 5, 5]],
    ],
    dtype=np.float64,
)


def ldp_codes(gray: np.ndarray, k: int = 3) -> np.ndarray:
    """Local directional pattern code per pixel ``(H, W)`` int: bit ``i`` is set when the
    absolute Kirsch response ``|M_i * I|`` is among the ``k`` largest of the eight (ties go
    to the lower direction index). Borders use nearest-pixel padding.
    """
    from scipy import ndimage as ndi

    g = np.asarray(gray, np.float64)
    resp = np.abs(np.stack([ndi.correlate(g, m, mode="nearest") for m in KIRSCH]))  # (8, H, W)
    order = np.argsort(-resp, axis=0, kind="stable")[:k]  # top-k directions per pixel
    return (1 << order).sum(axis=0).astype(np.int32)


def ldp_code_table(k: int = 3) -> np.ndarray:
    """The ``C(8, k)`` valid codes, ascending (56 for k=3)."""
    return np.array(sorted(c for c in range(256) if bin(c).count("1") == k), dtype=np.int32)


def ldp_histogram(gray: np.ndarray, mask: np.ndarray, k: int = 3) -> np.ndarray:
    """Normalised histogram ``(C(8, k),)`` of LDP codes inside ``mask`` (zeros if empty)."""
    table = ldp_code_table(k)
    codes = ldp_codes(gray, k)[np.asarray(mask, bool)]
    hist = np.searchsorted(table, codes)
    out = np.bincount(hist, minlength=len(table)).astype(np.float64)
    return out / out.sum() if out.sum() else out
