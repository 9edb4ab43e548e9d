"""Each classical feature set against a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.classify.classical import features as F
from leukoscan.classify.classical import texture as T


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(gray, np.uint8)[..., None], 3, axis=2)


def test_quantise_uses_region_range_and_zero_outside():
    g = np.array([[10, 20], [30, 250]], np.uint8)
    m = np.array([[1, 1], [1, 0]], bool)
    # range 10..30 in 4 levels: 10 -> 1, 20 -> 3, 30 -> 4; outside -> 0
    np.testing.assert_array_equal(T.quantise(g, m, 4), [[1, 3], [4, 0]])
    assert (T.quantise(g, np.zeros_like(m), 4) == 0).all()


def test_glrlm_matrix_by_hand():
    lv = np.array([[1, 1, 2], [2, 2, 2], [1, 0, 1]])
    # rows (0 deg): [1,1,2] -> (1, len2), (2, len1); [2,2,2] -> (2, len3); [1,0,1] -> (1, len1) x2
    expect0 = np.array([[2, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(T.glrlm(lv, 2, (0, 1)), expect0)
    # columns (90 deg): [1,2,1] -> 1,2,1 all len1; [1,2,0] -> 1 len1, 2 len1; [2,2,1] -> 2 len2, 1 len1
    expect90 = np.array([[4, 0, 0], [2, 1, 0]])
    np.testing.assert_array_equal(T.glrlm(lv, 2, (1, 0)), expect90)
    # main diagonals (135 deg, (1,1)): [1], [2,1], [1,2,1], [1,2], [2]
    expect135 = np.array([[4, 0, 0], [4, 0, 0]])
    np.testing.assert_array_equal(T.glrlm(lv, 2, (1, 1)), expect135)
    # anti-diagonals (45 deg, read bottom-left to top-right): [1], [2,1], [1,2,2], [0,2], [1]
    # -> level 1: four runs of 1; level 2: runs of 1 in [2,1] and [0,2], one run of 2
    expect45 = np.array([[4, 0, 0], [2, 1, 0]])
    np.testing.assert_array_equal(T.glrlm(lv, 2, (-1, 1)), expect45)


def test_glrlm_features_by_hand():
    p = np.array([[2, 1], [1, 0]])  # 4 runs over 5 pixels
    f = dict(zip(T.GLRLM_NAMES, T.glrlm_features(p, 5), strict=True))
    assert f["SRE"] == pytest.approx((2 + 1 / 4 + 1) / 4)
    assert f["LRE"] == pytest.approx((2 + 4 + 1) / 4)
    assert f["GLN"] == pytest.approx((3**2 + 1**2) / 4)
    assert f["RLN"] == pytest.approx((3**2 + 1**2) / 4)
    assert f["RP"] == pytest.approx(4 / 5)
    assert f["LGRE"] == pytest.approx((3 + 1 / 4) / 4)
    assert f["HGRE"] == pytest.approx((3 + 4) / 4)
    assert (T.glrlm_features(np.zeros((2, 2)), 0) == 0).all()


def test_glrlm_feature_set_on_uniform_disc():
    g = np.full((9, 9), 100, np.uint8)
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True
    v = F.glrlm(_rgb(g), m, m)
    # one level; rows/cols: 5 runs of length 5 (RP 5/25); diagonals: runs 1..5 of length 1..5
    assert v[0] == pytest.approx(
        np.mean(
            [
                1 / 25,
                1 / 25,
                np.mean(1 / np.array([1, 4, 9, 16, 25, 16, 9, 4, 1.0])),
                np.mean(1 / np.array([1, 4, 9, 16, 25, 16, 9, 4, 1.0])),
            ]
        )
    )


def test_glcm_inside_mask_by_hand():
    g = np.array([[0, 0, 255, 255], [0, 0, 255, 255], [0, 0, 255, 255], [9, 9, 9, 9]], np.uint8)
    m = np.ones_like(g, bool)
    m[3] = False  # last row outside: must not count
    q = T.quantise(g, m, 2)  # 0 -> 1, 255 -> 2
    p = F.glcm_matrix(q, 2)[:, :, 0, 0]  # horizontal neighbours, symmetric
    # per row: (1,1), (1,2), (2,2) -> symmetric counts over 3 rows
    np.testing.assert_array_equal(p, [[6, 3], [3, 6]])
    v = dict(zip(F.GLCM_PROPS, F.glcm(_rgb(g), m, m), strict=True))
    # the feature set uses 16 levels over the region's range: 0 -> 1, 255 -> 16, so
    # contrast = 15^2 x off-diagonal mass; 0 deg 6/18, 90 deg 0, 45/135 deg 4/12
    assert v["contrast"] == pytest.approx(225 * np.mean([6 / 18, 4 / 12, 0.0, 4 / 12]))
    assert 0 < v["energy"] <= 1 and v["ASM"] == pytest.approx(
        np.mean(
            [
                ((6 / 18) ** 2 * 2 + (3 / 18) ** 2 * 2),
                ((4 / 12) ** 2 * 2 + (2 / 12) ** 2 * 2),
                0.5,
                ((4 / 12) ** 2 * 2 + (2 / 12) ** 2 * 2),
            ]
        )
    )


def test_lbp_flat_region_is_all_uniform_code_8():
    g = np.full((7, 7), 50, np.uint8)
    m = np.zeros((7, 7), bool)
    m[2:5, 2:5] = True
    h = F.lbp(_rgb(g), m, m)
    # every neighbour >= centre -> all 8 bits set -> uniform code P = 8
    np.testing.assert_allclose(h, np.eye(10)[8])


def test_ldp_code_by_hand():
    g = np.zeros((3, 3))
    g[:, 2] = 100  # bright right column: east-facing masks respond most
    codes = T.ldp_codes(g, k=3)
    # centre: responses |M_i * I|: M0 (east) = 1500, M1 = M7 = 700, M2 = M6 = 100,
    # M3 = M5 = 900, M4 = 900 -> top 3 = M0 (1500), then 900s: M3, M4 (lower index first)
    assert codes[1, 1] == (1 << 0) | (1 << 3) | (1 << 4)
    table = T.ldp_code_table(3)
    assert len(table) == 56 and all(bin(int(c)).count("1") == 3 for c in table)
    m = np.zeros((3, 3), bool)
    m[1, 1] = True
    h = T.ldp_histogram(g, m)
    assert h.sum() == pytest.approx(1.0) and h[np.searchsorted(table, codes[1, 1])] == 1.0


def test_shape_of_disc_and_square():
    yy, xx = np.mgrid[:101, :101]
    disc = (yy - 50) ** 2 + (xx - 50) ** 2 <= 30**2
    v = dict(zip(F.feature_names("shape"), F.shape(_rgb(np.zeros((101, 101))), disc, disc), strict=True))
    assert v["nuc_area_frac"] == pytest.approx(np.pi * 30**2 / 101**2, rel=0.01)
    assert v["nuc_eccentricity"] < 0.05 and v["nuc_solidity"] > 0.98
    assert v["nuc_compactness"] == pytest.approx(1.0, abs=0.15)  # digital perimeter: ~1.10
    assert v["nc_ratio"] == 1.0 and v["nuc_components"] == 1.0
    sq = np.zeros((20, 20), bool)
    sq[5:15, 5:15] = True
    cell = np.zeros_like(sq)
    cell[0:20, 0:20] = True
    s = dict(zip(F.feature_names("shape"), F.shape(_rgb(np.zeros((20, 20))), sq, cell), strict=True))
    assert s["nuc_extent"] == 1.0 and s["nuc_solidity"] == 1.0 and s["nc_ratio"] == pytest.approx(0.25)
    assert (F.shape(_rgb(np.zeros((5, 5))), np.zeros((5, 5), bool), np.zeros((5, 5), bool)) == 0).all()


def test_colour_by_hand():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (255, 0, 0)  # nucleus: pure red -> H 0, S 1, V 1
    rgb[2:] = (0, 0, 255)  # cytoplasm: pure blue -> H 2/3
    nuc = np.zeros((4, 4), bool)
    nuc[:2] = True
    v = dict(zip(F.feature_names("colour"), F.colour(rgb, nuc, np.ones((4, 4), bool)), strict=True))
    assert (v["nuc_mean_R"], v["nuc_mean_G"], v["nuc_mean_S"], v["nuc_mean_V"]) == (1.0, 0.0, 1.0, 1.0)
    assert v["cyto_mean_B"] == 1.0 and v["cyto_mean_H"] == pytest.approx(2 / 3)
    assert all(v[k] == 0 for k in v if "_std_" in k)


def test_firstorder_by_hand():
    g = np.array([[0, 8, 16, 24]], np.uint8)
    v = dict(zip(F.feature_names("firstorder"), F.firstorder(_rgb(g), np.ones_like(g, bool), None), strict=True))
    assert v["mean"] == 12 and v["std"] == pytest.approx(np.std([0, 8, 16, 24]))
    assert v["skewness"] == pytest.approx(0.0) and v["kurtosis"] == pytest.approx(-1.36)
    assert v["entropy"] == pytest.approx(2.0) and v["energy"] == pytest.approx(0.25)
    assert (v["min"], v["median"], v["max"], v["range"]) == (0, 12, 24, 24)


@pytest.mark.parametrize("name", list(F.FEATURES))
def test_every_feature_set_finite_and_named(name):
    from leukoscan.synthetic import make_cell_crop

    rgb = make_cell_crop(64, blast=True, seed=0)
    yy, xx = np.mgrid[:64, :64]
    nuc = (yy - 32) ** 2 + (xx - 32) ** 2 <= 12**2
    cell = (yy - 32) ** 2 + (xx - 32) ** 2 <= 20**2
    before = rgb.copy()
    v = F.FEATURES[name](rgb, nuc, cell)
    assert v.shape == (len(F.feature_names(name)),) and np.isfinite(v).all()
    assert np.array_equal(rgb, before)
    empty = F.compute((name,), rgb, np.zeros_like(nuc), np.zeros_like(nuc))
    assert np.isfinite(empty).all()


def test_unknown_feature_set_raises():
    with pytest.raises(ValueError, match="Valid"):
        F.compute(("haralick",), np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), bool), np.ones((4, 4), bool))
