"""Every registered classifier: torch forward/backward, sklearn fit/predict, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from classify_fixtures import _one_thread, crops  # noqa: F401  (fixtures)

from leukoscan import classify
from leukoscan.classify.model import FitCfg, SklearnClassifier, TorchClassifier
from leukoscan.synthetic import make_cell_crop

# the classical compositions and seed recipes are covered by tests/test_classical_*.py
_ZOO = [n for n in classify.list_names() if classify.CLASSIFIERS.entry(n).meta.get("family") != "classical"]
TORCH_NAMES = [n for n in classify.list_names(kind="torch") if n in _ZOO]
SKLEARN_NAMES = [n for n in classify.list_names(kind="sklearn") if n in _ZOO]


def _size(name: str) -> int:
    return 64 if name.startswith("alexnet") else 32  # AlexNet's stride-4 stem needs >= 63 px


def test_zoo_is_complete():
    expected = {
        "cnn",
        "alexnet",
        "resnet18",
        "resnet50",
        "googlenet",
        "vgg16",
        "shufflenet_v2",
        "mobilenet_v2",
        "cnn_rnn",
        "handcrafted+svm",
        "handcrafted+rf",
        "mobilenet_v2+svm",
        "resnet18+rf",
    }
    assert expected <= set(classify.list_names())


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="Valid names"):
        classify.build("resnet19")


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_torch_forward_backward(name):
    import torch

    clf = classify.build(name, num_classes=3, pretrained=False, imgsz=_size(name))
    assert isinstance(clf, TorchClassifier) and clf.preprocess.input_size == _size(name)
    s = clf.preprocess.input_size
    x = torch.randn(2, 3, s, s)
    clf.net.train()
    out = clf.net(x)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    grads = [p.grad for p in clf.net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    feats = classify.build(name, num_classes=0, pretrained=False).net.eval()(x)
    assert feats.ndim == 2 and feats.shape[0] == 2 and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", SKLEARN_NAMES)
def test_sklearn_fit_predict(name, crops):
    imgs, y = crops
    clf = classify.build(name, num_classes=2, pretrained=False, imgsz=_size(name), class_names=["a", "b"])
    assert isinstance(clf, SklearnClassifier)
    clf.fit(imgs, y)
    p = clf.predict_proba(imgs[:5])
    assert p.shape == (5, 2) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)


def test_torch_fit_save_load_roundtrip(crops, tmp_path):
    imgs, y = crops
    clf = classify.build("cnn", num_classes=2, pretrained=False, imgsz=32, class_names=["normal", "blast"])
    hist = clf.fit(imgs, y, FitCfg(epochs=1, batch=4))
    assert len(hist) == 1 and np.isfinite(hist[0]["train_loss"])
    p = clf.predict_proba(imgs)
    back = classify.load(clf.save(tmp_path))
    assert back.class_names == ("normal", "blast") and back.preprocess == clf.preprocess
    np.testing.assert_allclose(back.predict_proba(imgs), p, atol=1e-5)
    assert classify.load(tmp_path).predict_proba([]).shape == (0, 2)


def test_sklearn_save_load_roundtrip(crops, tmp_path):
    imgs, y = crops
    clf = classify.build("handcrafted+rf", pretrained=False, imgsz=32)
    clf.fit(imgs, y)
    back = classify.load(clf.save(tmp_path))
    np.testing.assert_allclose(back.predict_proba(imgs), clf.predict_proba(imgs), atol=1e-6)


def test_predict_does_not_mutate_and_accepts_any_size(crops):
    imgs, y = crops
    clf = classify.build("cnn", pretrained=False, imgsz=32)
    odd = [make_cell_crop(40, blast=True, seed=3)[:37, :, :], imgs[0]]
    before = [c.copy() for c in odd]
    assert clf.predict_proba(odd).shape == (2, 2)
    assert all(np.array_equal(a, b) for a, b in zip(odd, before, strict=True))


def test_offline_pretrained_warns_once_and_builds(monkeypatch):
    from leukoscan.classify.models import torch_zoo

    monkeypatch.setattr(torch_zoo, "_WARNED", False)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        classify.build("shufflenet_v2", pretrained=True)
        classify.build("mobilenet_v2", pretrained=True)
    msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
    assert len([m for m in msgs if "FROM SCRATCH" in m]) == 1
