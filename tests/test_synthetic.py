"""The synthetic smear generator (leukoscan.synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.synthetic import LABELS, make_cell_crop, make_smear


@pytest.mark.parametrize("hw", [(480, 640), (64, 96), (128, 128), (300, 1000)])
def test_smear_shapes_and_boxes(hw):
    s = make_smear(*hw, seed=1)
    h, w = hw
    assert s.image.shape == (h, w, 3) and s.image.dtype == np.uint8
    assert s.boxes.dtype == np.float32 and s.boxes.shape == (len(s.labels), 4)
    assert set(s.labels) <= set(LABELS)
    assert {"rbc"} <= set(s.labels) and ({"blast", "leukocyte"} & set(s.labels))
    b = s.boxes
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all()
    assert ((b[:, 2] - b[:, 0]) > 0).all() and ((b[:, 3] - b[:, 1]) > 0).all()


def test_seeded_and_varied():
    a, b, c = make_smear(seed=3), make_smear(seed=3), make_smear(seed=4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes) and a.labels == b.labels
    assert not np.array_equal(a.image, c.image)


def test_counts_and_sizes():
    s = make_smear(seed=0, n_leukocytes=4, blast_fraction=1.0)
    assert s.labels.count("blast") == 4 and "leukocyte" not in s.labels
    n = make_smear(seed=0, n_leukocytes=4, blast_fraction=0.0)
    side = lambda sm, lab: np.mean([bx[2] - bx[0] for bx, lb in zip(sm.boxes, sm.labels, strict=True) if lb == lab])  # noqa: E731
    assert side(s, "blast") > side(n, "leukocyte") > side(s, "rbc") > side(s, "platelet")


def test_colours_look_like_a_smear():
    s = make_smear(seed=2, n_leukocytes=2)
    img = s.image.astype(float)
    bg = np.median(img.reshape(-1, 3), axis=0)
    assert bg.min() > 180  # pale background
    wbc = [b for b, lab in zip(s.boxes, s.labels, strict=True) if lab in ("blast", "leukocyte")][0].astype(int)
    cx, cy = (wbc[0] + wbc[2]) // 2, (wbc[1] + wbc[3]) // 2
    r, g, b = img[cy - 2 : cy + 3, cx - 2 : cx + 3].reshape(-1, 3).mean(0)
    assert b > g + 40 and r > g  # purple-ish nucleus


def test_cell_crop():
    a = make_cell_crop(64, blast=True, seed=1)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, make_cell_crop(64, blast=True, seed=1))
    assert not np.array_equal(a, make_cell_crop(64, blast=False, seed=1))
    with pytest.raises(ValueError):
        make_cell_crop(8, blast=True)
