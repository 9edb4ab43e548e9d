"""Classical classifiers, compositions and seed recipes: fit / predict on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from classify_fixtures import _one_thread, crops  # noqa: F401  (fixtures)

from leukoscan import classify
from leukoscan.classify.classical import (
    ESTIMATORS,
    FEATURES,
    METHODS,
    RECIPES,
    composition_names,
    is_classical,
)
from leukoscan.classify.classical.classifiers import build_estimator
from leukoscan.classify.model import SklearnClassifier


@pytest.mark.parametrize("name", [*ESTIMATORS, "dnn"])
def test_every_estimator_fits_separable_data(name):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (20, 4)), rng.normal(3, 1, (20, 4))])
    y = np.repeat([0, 1], 20)
    est = build_estimator(name, seed=0).fit(x, y)
    p = est.predict_proba(x)
    assert p.shape == (40, 2) and np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == y).mean() >= 0.9


def test_unknown_estimator_raises():
    with pytest.raises(ValueError, match="Valid"):
        build_estimator("xgboost")


def test_every_composition_is_registered():
    names = set(classify.list_names())
    assert set(composition_names()) <= names and set(RECIPES) <= names
    assert len(composition_names()) == len(METHODS) * len(FEATURES) * len(ESTIMATORS)
    assert is_classical("watershed+glcm+rf") and is_classical("mishra2017")
    assert not is_classical("handcrafted+svm") and not is_classical("resnet18")


# One composition per segmentation method, per feature set and per classifier (covers each part).
SAMPLE = [
    "watershed+glcm+rf",
    "otsu+shape+svm",
    "kmeans+colour+dt",
    "kmedoids+glrlm+knn",
    "fcm+firstorder+nb",
    "otsu+lbp+mlp",
    "watershed+ldp+ensemble",
]


@pytest.mark.parametrize("name", SAMPLE)
def test_composition_fit_predict_save_load(name, crops, tmp_path):
    imgs, y = crops
    clf = classify.build(name, num_classes=2, imgsz=32, class_names=["normal", "blast"])
    assert isinstance(clf, SklearnClassifier) and clf.name == name
    clf.fit(imgs, y)
    p = clf.predict_proba(imgs[:4])
    assert p.shape == (4, 2) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    back = classify.load(clf.save(tmp_path))
    np.testing.assert_allclose(back.predict_proba(imgs[:4]), p, atol=1e-6)
    assert clf.predict_proba([]).shape == (0, 2)


def test_sample_covers_every_part():
    parts = [n.split("+") for n in SAMPLE]
    assert {p[0] for p in parts} == set(METHODS)
    assert {p[1] for p in parts} == set(FEATURES)
    assert {p[2] for p in parts} == set(ESTIMATORS)


@pytest.mark.slow
@pytest.mark.parametrize("name", composition_names())
def test_every_composition_slow(name, crops):
    imgs, y = crops
    clf = classify.build(name, num_classes=2, imgsz=32)
    clf.fit(imgs, y)
    assert clf.predict_proba(imgs[:2]).shape == (2, 2)


# VGG16 rows take 20-30 s each on a loaded 2-core box: slow; the deep code paths they share
# (zoo feature extractor + classical head, zoo network fit) are covered by das2022 / shahin2019.
_VGG = {"vogado2017", "genovese2021"}
RECIPE_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in _VGG else n for n in RECIPES]


@pytest.mark.parametrize("name", RECIPE_PARAMS)
def test_every_recipe_fits_and_predicts(name, crops):
    imgs, y = crops
    r = RECIPES[name]
    assert r.approximation and r.reported and r.system
    size = 64 if r.backbone == "alexnet" else 32  # AlexNet's stem needs >= 63 px
    clf = classify.build(name, num_classes=2, pretrained=False, imgsz=size)
    if r.kind == "deep":
        from leukoscan.classify.model import FitCfg

        clf.fit(imgs, y, FitCfg(epochs=1, batch=6, device="cpu"))
    else:
        clf.fit(imgs, y)
    p = clf.predict_proba(imgs[:3])
    assert p.shape == (3, 2) and np.isfinite(p).all()


def test_extractor_counts_segmentation_fallback():
    from leukoscan.classify.classical.extractor import ClassicalExtractor
    from leukoscan.classify.preprocess import PreprocessCfg

    ext = ClassicalExtractor("otsu", ("shape",), PreprocessCfg(input_size=32))
    flat = np.full((40, 40, 3), 200, np.uint8)
    x = ext([flat])
    assert ext.n_fallback == 1 and x.shape == (1, 11) and np.isfinite(x).all()
    with pytest.raises(ValueError, match="Valid"):
        ClassicalExtractor("snake", ("shape",), PreprocessCfg())
