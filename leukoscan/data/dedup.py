"""Find copies of images across datasets by content, not by name.

TXL-PBC re-distributes ~440 BCCD images, many resized (640x480 -> 416x416), mirrored or
colour-shifted. A model trained on TXL-PBC may so have seen a BCCD val image. The
signature used here survives those edits: the image in grey, resized to ``size x size``
(the aspect ratio is dropped on purpose: 4:3 -> 1:1 resizes must still match), high-passed
(minus a Gaussian blur of sigma ``size / 12``, which removes illumination fall-off and
colour casts) and z-normalised; two images are copies when the Pearson correlation of
their signatures, under the best of the 4 flips (none, left-right, up-down, both), is at
least ``threshold``.

Threshold, measured on TXL-PBC (1,324 images) against BCCD train+val (292): the best
correlation of each TXL image has a bulk at 0.1-0.3 (PBC, BCD and Raabin fields: unrelated)
and 228 images at >= 0.95 (plain copies); between 0.35 and 0.95, looked at by eye, are
colour-shifted copies, crops and shifted views of the same BCCD field. 0.35 removes them
all; a field shifted by much of its width may still fall below it (not translation-tolerant).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leukoscan.io import read_image

SIGNATURE_SIZE = 48
COPY_THRESHOLD = 0.35


def signature(img: np.ndarray, size: int = SIGNATURE_SIZE) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` -> flattened z-normalised grey thumbnail ``(size * size,)`` float32."""
    import cv2

    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    small = cv2.resize(grey.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    small = small - cv2.GaussianBlur(small, (0, 0), size / 12)
    z = (small - small.mean()) / max(float(small.std()), 1e-6)
    return z.ravel().astype(np.float32)


def signatures(paths: Sequence[Path], size: int = SIGNATURE_SIZE, *, progress: bool = False) -> np.ndarray:
    """``(N, size * size)`` signatures of image files."""
    from tqdm import tqdm

    out = [signature(read_image(p), size) for p in tqdm(paths, desc="signatures", disable=not progress, leave=False)]
    return np.stack(out) if out else np.zeros((0, size * size), np.float32)


def _flips(sig: np.ndarray, size: int) -> list[np.ndarray]:
    s = sig.reshape(-1, size, size)
    return [x.reshape(len(sig), -1) for x in (s, s[:, :, ::-1], s[:, ::-1, :], s[:, ::-1, ::-1])]


def best_match(query: np.ndarray, ref: np.ndarray, size: int = SIGNATURE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """For each query signature: the index of the best reference and its correlation (any flip)."""
    if len(query) == 0 or len(ref) == 0:
        return np.full(len(query), -1), np.full(len(query), -np.inf)
    d = ref.shape[1]
    corr = np.max(np.stack([q @ ref.T / d for q in _flips(query, size)]), axis=0)  # (Q, R)
    return corr.argmax(1), corr.max(1)


def find_copies(
    query: Sequence[Path], ref: Sequence[Path], *, threshold: float = COPY_THRESHOLD, progress: bool = False
) -> dict[Path, tuple[Path, float]]:
    """``{query path: (reference path it copies, correlation)}`` for every query image that is
    a (resized / mirrored / colour-shifted) copy of a reference image."""
    qs, rs = signatures(query, progress=progress), signatures(ref, progress=progress)
    idx, corr = best_match(qs, rs)
    return {query[i]: (ref[int(idx[i])], float(corr[i])) for i in range(len(query)) if corr[i] >= threshold}
