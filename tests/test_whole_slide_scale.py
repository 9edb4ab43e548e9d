"""Whole-slide features are scale-aware: resizing a slide moves its red-cell ruler, not its call."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from leukoscan.experiments import whole_image as wi
from leukoscan.synthetic import make_smear


def _slides(images: list[np.ndarray], labels: list[int]) -> wi.Slides:
    n = len(images)
    return wi.Slides(
        images,
        np.array(labels),
        [f"s{i}" for i in range(n)],
        [f"g{i}" for i in range(n)],
        ["Canon"] * n,
        np.array([im.shape[1::-1] for im in images], float),
        ["train"] * n,
    )


def _smear(seed: int, all_: bool, h: int = 360, w: int = 480) -> np.ndarray:
    return make_smear(h, w, seed=seed, n_leukocytes=4, blast_fraction=1.0 if all_ else 0.0, n_rbc=60).image


def _resize(img: np.ndarray, f: float) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def test_cell_radius_follows_a_resize_and_fixed_scale_undoes_it():
    img = _smear(0, True)
    r = wi.cell_radius(img)
    assert r is not None and r > 2
    for f in (0.6, 1.5):
        assert wi.cell_radius(_resize(img, f)) / r == pytest.approx(f, rel=0.15)
        fixed = wi.cell_radius(wi.to_fixed_scale(_resize(img, f)))
        assert fixed == pytest.approx(wi.RBC_RADIUS_PX, rel=0.15)
    blank = np.full((64, 64, 3), 200, np.uint8)
    assert wi.cell_radius(blank) is None and wi.to_fixed_scale(blank) is blank  # no ruler: used as it is


def test_resizing_a_slide_does_not_flip_its_call():
    from sklearn.ensemble import RandomForestClassifier

    labels = [i % 2 for i in range(16)]
    train = _slides([_smear(i, bool(y)) for i, y in enumerate(labels)], labels)
    rf = RandomForestClassifier(n_estimators=200, random_state=0).fit(wi.global_features(train), train.labels)
    test = [_smear(100 + i, bool(i % 2)) for i in range(4)]
    calls = rf.predict(wi.global_features(_slides(test, [i % 2 for i in range(4)])))
    for f in (0.6, 1.6):
        moved = rf.predict(wi.global_features(_slides([_resize(t, f) for t in test], [0] * 4)))
        assert moved.tolist() == calls.tolist(), f"resize x{f}"
    # the other aspect of an odd-sized field (a crop of a wider slide) keeps its call too
    crop = [t[:, : t.shape[1] // 2 + 60] for t in test]
    assert rf.predict(wi.global_features(_slides(crop, [0] * 4))).tolist() == calls.tolist()


def test_fixed_scale_features_move_less_under_a_resize_than_square_resized_ones():
    base = [_smear(i, bool(i % 2)) for i in range(8)]
    for f in (0.6, 1.5):
        moves = {}
        for aware in (True, False):
            x = wi.global_features(_slides(base, [0] * 8), scale_aware=aware)
            sd = x.std(0) + 1e-9
            y = wi.global_features(_slides([_resize(b, f) for b in base], [0] * 8), scale_aware=aware)
            moves[aware] = np.abs((y - x) / sd).mean()  # in units of the features' spread over slides
        assert moves[True] < 0.6 * moves[False], (f, moves)
