"""Every segmentation method on synthetic cells with a known nucleus mask (IoU floors)."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.classify.classical.segmentation import (
    METHODS,
    iou,
    kmedoids,
    nucleus_score,
    segment_cell,
    segment_nucleus,
)

BACKGROUND, RBC = (236, 226, 222), (222, 140, 150)
CYTOPLASM, NUCLEUS = (190, 190, 215), (120, 70, 165)  # B - G: 25 and 95, as measured on ALL-IDB2 crops

# Measured over seeds 0-7 (issue 16): otsu 0.935-0.962, cell mask 0.907-0.930, all others
# >= 0.998; floors are those minus a margin. With a strongly stained cytoplasm (B - G = 40,
# above what ALL-IDB2 shows) single-threshold Otsu merges it into the nucleus (IoU ~0.4)
# and k-medoids (k=3) does so on some seeds: a known limit of 2-class / 3-cluster splits.
IOU_FLOOR = {"otsu": 0.9, "watershed": 0.95, "kmeans": 0.95, "kmedoids": 0.95, "fcm": 0.95}


def synthetic_cell(size: int = 96, seed: int = 0, n_rbc: int = 5):
    """``(rgb, nucleus mask, cell mask)``: a leukocyte (elliptic nucleus in a disc of
    cytoplasm) centred among red cells on a pale background, Gaussian noise sd 4."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(float)
    img = np.empty((size, size, 3))
    img[:] = BACKGROUND
    c = size / 2 + rng.normal(0, 2, 2)
    cr = size * rng.uniform(0.28, 0.32)
    for _ in range(n_rbc):
        ang, r = rng.uniform(0, 2 * np.pi), size * 0.11
        x, y = c[0] + np.cos(ang) * (cr + 1.3 * r), c[1] + np.sin(ang) * (cr + 1.3 * r)
        img[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = RBC
    cell = (yy - c[1]) ** 2 + (xx - c[0]) ** 2 <= cr * cr
    img[cell] = CYTOPLASM
    a, b, th = cr * rng.uniform(0.6, 0.75), cr * rng.uniform(0.5, 0.6), rng.uniform(0, np.pi)
    u = ((xx - c[0]) * np.cos(th) + (yy - c[1]) * np.sin(th)) / a
    v = ((yy - c[1]) * np.cos(th) - (xx - c[0]) * np.sin(th)) / b
    nucleus = u * u + v * v <= 1
    img[nucleus] = NUCLEUS
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), nucleus, cell


@pytest.mark.parametrize("method", list(METHODS))
def test_nucleus_iou_floor(method):
    scores = []
    for seed in range(3):
        rgb, truth, _ = synthetic_cell(seed=seed)
        before = rgb.copy()
        mask = segment_nucleus(rgb, method, seed=seed)
        assert mask.dtype == bool and mask.shape == truth.shape
        assert np.array_equal(rgb, before)  # input not mutated
        scores.append(iou(mask, truth))
    assert min(scores) >= IOU_FLOOR[method], (method, scores)


@pytest.mark.parametrize("method", list(METHODS))
def test_flat_image_gives_empty_mask(method):
    flat = np.full((32, 32, 3), 200, np.uint8)
    assert not segment_nucleus(flat, method).any()


def test_central_keeps_centre_cell_and_whole_slide_keeps_all():
    rgb, truth, _ = synthetic_cell(96, seed=1)
    wide = np.full((96, 192, 3), BACKGROUND, np.uint8)
    wide[:, :96] = rgb
    wide[:, 96:] = rgb  # a second cell to the right
    every = segment_nucleus(wide, "otsu", central=False)
    from skimage import measure

    assert measure.label(every).max() == 2
    assert measure.label(segment_nucleus(wide, "otsu", central=True)).max() == 1


def test_cell_mask_contains_nucleus_and_overlaps_truth():
    rgb, nucleus, cell = synthetic_cell(seed=2)
    got = segment_cell(rgb, segment_nucleus(rgb, "otsu"))
    assert iou(got, cell) >= 0.85
    assert not segment_cell(rgb, np.zeros_like(nucleus)).any()


def test_kmedoids_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 8.0]])
    x = np.concatenate([c + rng.normal(0, 0.3, (40, 2)) for c in centres])
    med = x[kmedoids(x, 3, seed=0)]
    d = np.linalg.norm(med[:, None] - centres[None], axis=2)
    assert sorted(d.argmin(axis=1).tolist()) == [0, 1, 2] and d.min(axis=1).max() < 1.0
    with pytest.raises(ValueError, match="at least"):
        kmedoids(x[:2], 3)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="Valid"):
        segment_nucleus(np.zeros((8, 8, 3), np.uint8), "graph_cut")
    with pytest.raises(ValueError, match="RGB"):
        nucleus_score(np.zeros((8, 8)))
