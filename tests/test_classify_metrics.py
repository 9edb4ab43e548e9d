"""Metrics against hand-computed confusion matrices, including degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leukoscan.classify.metrics import (
    auc_delong,
    binary_report,
    confusion_matrix,
    expected_calibration_error,
    wilson,
)


def _proba(p1):
    p1 = np.asarray(p1, float)
    return np.stack([1 - p1, p1], axis=1)


def test_hand_computed_confusion():
    # truth: 4 positives, 6 negatives; predictions: TP=3, FN=1, FP=2, TN=4
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.55, 0.1, 0.2, 0.3, 0.4])
    r = binary_report(y, _proba(p), ("normal", "blast"), positive=1, n_boot=200)
    assert r.confusion.tolist() == [[4, 2], [1, 3]]
    assert r.sensitivity.value == pytest.approx(3 / 4)
    assert r.specificity.value == pytest.approx(4 / 6)
    assert r.precision.value == pytest.approx(3 / 5)
    assert r.accuracy.value == pytest.approx(7 / 10)
    assert r.f1.value == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert r.balanced_accuracy.value == pytest.approx((3 / 4 + 4 / 6) / 2)
    for est in (r.sensitivity, r.specificity, r.f1, r.balanced_accuracy, r.auc):
        assert est.lo <= est.value <= est.hi
    d = r.to_dict()
    assert d["confusion_matrix"] == [[4, 2], [1, 3]] and d["n"] == 10


def test_wilson_known_value():
    e = wilson(8, 10)  # textbook: 0.8, [0.490, 0.943]
    assert e.value == 0.8
    assert e.lo == pytest.approx(0.4902, abs=1e-3) and e.hi == pytest.approx(0.9433, abs=1e-3)
    assert math.isnan(wilson(0, 0).value)


def test_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = y * 0.5 + rng.random(60)
    a = auc_delong(y, s)
    assert a.value == pytest.approx(roc_auc_score(y, s))
    assert 0 <= a.lo <= a.value <= a.hi <= 1


def test_no_positives_is_nan_not_crash():
    y = np.zeros(5, int)
    r = binary_report(y, _proba([0.1, 0.2, 0.7, 0.3, 0.4]), n_boot=100)
    assert math.isnan(r.sensitivity.value) and math.isnan(r.auc.value)
    assert math.isnan(r.balanced_accuracy.value)
    assert r.specificity.value == pytest.approx(4 / 5)
    assert r.f1.value == 0.0  # 2TP / (2TP + FP + FN) = 0 / 1
    assert r.to_dict()["sensitivity"]["value"] is None


def test_no_positives_no_predicted_positives():
    r = binary_report(np.zeros(3, int), _proba([0.1, 0.2, 0.3]), n_boot=50)
    assert math.isnan(r.precision.value) and math.isnan(r.f1.value)
    assert r.accuracy.value == 1.0


def test_all_correct_and_all_wrong():
    y = np.array([0, 1, 0, 1])
    good = binary_report(y, _proba([0.1, 0.9, 0.2, 0.8]), n_boot=100)
    assert good.accuracy.value == 1 and good.balanced_accuracy.value == 1 and good.auc.value == 1
    assert good.confusion.tolist() == [[2, 0], [0, 2]]
    bad = binary_report(y, _proba([0.9, 0.1, 0.8, 0.2]), n_boot=100)
    assert bad.accuracy.value == 0 and bad.sensitivity.value == 0 and bad.specificity.value == 0
    assert bad.f1.value == 0 and bad.auc.value == 0 and bad.confusion.tolist() == [[0, 2], [2, 0]]


def test_empty_input():
    r = binary_report(np.zeros(0, int), np.zeros((0, 2)), n_boot=10)
    assert r.n == 0 and math.isnan(r.accuracy.value) and math.isnan(r.ece)


def test_ece_hand_computed():
    # two bins: conf 0.9 (2 items, 1 correct) and conf 0.6 (2 items, 2 correct)
    proba = np.array([[0.1, 0.9], [0.1, 0.9], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([1, 0, 1, 1])
    assert expected_calibration_error(y, proba) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)


def test_confusion_multiclass():
    assert confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], 3).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
