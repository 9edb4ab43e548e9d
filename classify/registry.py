"""``CLASSIFIERS``: the classifier zoo by name; loading any saved classifier.

Entries are registered in :mod:`leukoscan.classify.models` with their kind (``"torch"``:
a network trained end to end, saved as ``model.pt``; ``"sklearn"``: features + a
scikit-learn estimator, saved as ``model.skops``) and their loader. :func:`load` reads a
run folder, a ``model.pt`` / ``model.skops`` or an exported ``model.onnx`` without running
code from the file (:mod:`leukoscan.trust`); an older run's pickle ``model.pkl`` only with
``trust=True`` (``--trust-model``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from leukoscan.classify.model import (
    PICKLE_FILE,
    SKLEARN_FILE,
    TORCH_FILE,
    SklearnClassifier,
    TorchClassifier,
)
from leukoscan.classify.onnx import OnnxClassifier
from leukoscan.classify.preprocess import PreprocessCfg
from leukoscan.errors import BadInputError
from leukoscan.registry import Registry
from leukoscan.runs import weights_file
from leukoscan.trust import check_estimator, pickle_load, skops_load, torch_load

CLASSIFIERS = Registry("classifier")


def build(name: str, *, num_classes: int = 2, pretrained: bool = True, **kwargs: Any) -> Any:
    """Build an untrained classifier by registered name (see :func:`list_names`)."""
    return CLASSIFIERS.build(name, num_classes=num_classes, pretrained=pretrained, **kwargs)


def list_names(kind: str | None = None) -> list[str]:
    """Registered names, optionally of one kind (``"torch"`` or ``"sklearn"``)."""
    return CLASSIFIERS.list_names(kind)


def _preprocess(d: dict[str, Any]) -> PreprocessCfg:
    return PreprocessCfg(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: Build arguments a ``model.pt`` may carry (file data: typed and bounded, no paths to load).
BUILD_KWARGS = {
    "width": lambda v: type(v) is int and 1 <= v <= 1024,
    "hidden": lambda v: type(v) is int and 1 <= v <= 4096,
    "rnn": lambda v: v in ("lstm", "gru"),
}


def _build_kwargs(blob: dict[str, Any]) -> dict[str, Any]:
    kw = blob["build_kwargs"]
    if not isinstance(kw, dict):
        raise ValueError(f"build_kwargs is a {type(kw).__name__}")
    for k, v in kw.items():
        if k not in BUILD_KWARGS or not BUILD_KWARGS[k](v):
            raise ValueError(f"build argument {str(k)[:40]}={str(v)[:40]!r} is not one LeukoScan saves")
    return kw


def load_torch_state(blob: dict[str, Any]) -> TorchClassifier:
    """Rebuild a torch classifier from a ``model.pt`` blob (name, build kwargs, state dict)."""
    clf = build(
        blob["name"],
        num_classes=len(blob["class_names"]),
        pretrained=False,
        class_names=blob["class_names"],
        preprocess=_preprocess(blob["preprocess"]),
        **_build_kwargs(blob),
    )
    clf.net.load_state_dict(blob["state_dict"])
    clf.net.eval()
    return clf


def load_sklearn_state(state: dict[str, Any]) -> SklearnClassifier:
    """Rebuild a scikit-learn composition from a ``model.skops`` state (estimator + feature weights)."""
    clf = build(
        state["name"],
        num_classes=len(state["class_names"]),
        pretrained=False,
        class_names=state["class_names"],
        preprocess=_preprocess(state["preprocess"]),
    )
    clf.estimator = state["estimator"]
    clf.extractor.load_weights(state.get("features") or {})
    return clf


#: Where classes of pickles written before the ``leukoscan.*`` namespace live now.
_MOVED = {"classify.": "leukoscan.classify.", "detect.": "leukoscan.detect."}
_RENAMED = {
    ("leukoscan.classify.model", "HandcraftedExtractor"): "leukoscan.classify.models.handcrafted",
    ("leukoscan.classify.model", "_CachedExtractor"): "leukoscan.classify.model",
}


class _Unpickler(pickle.Unpickler):
    """Reads pickles of older layouts (top-level ``classify``) into the current classes."""

    def find_class(self, module: str, name: str) -> Any:
        for old, new in _MOVED.items():
            if module == old[:-1] or module.startswith(old):
                module = new + module[len(old) :] if module.startswith(old) else new[:-1]
        module = _RENAMED.get((module, name), module)
        return super().find_class(module, "CachedExtractor" if name == "_CachedExtractor" else name)


def load_pickle(path: Path, *, trust: bool = False) -> SklearnClassifier:
    """A pickled composition of an older run: only with ``trust`` (pickles run code when loaded)."""
    return pickle_load(path, trust=trust, unpickler=_Unpickler)


_KEYS = {
    "torch": ("name", "class_names", "preprocess", "build_kwargs", "state_dict"),
    "sklearn": ("name", "class_names", "preprocess", "estimator"),
}


def _from_state(path: Path, blob: Any, kind: str) -> Any:
    """Rebuild through the registry; a file of another kind or shape is a BadInputError naming it."""
    if not isinstance(blob, dict) or any(k not in blob for k in _KEYS[kind]):
        have = sorted(blob)[:6] if isinstance(blob, dict) else type(blob).__name__
        raise BadInputError(f"{path}: not a LeukoScan {kind} classifier (has {have}; a detector checkpoint?)")
    if CLASSIFIERS.kind_of(blob["name"]) != kind:
        raise BadInputError(f"{path}: names model {blob['name']!r}, which is not a {kind} classifier")
    try:
        return CLASSIFIERS.load(blob["name"], blob)
    except (RuntimeError, KeyError, TypeError, ValueError) as e:  # state does not fit the network
        raise BadInputError(
            f"{path}: weights do not fit model {blob['name']!r} ({str(e).strip().splitlines()[0][:160]})"
        ) from e


def _load_pt(path: Path, trust: bool = False) -> TorchClassifier:
    return _from_state(path, torch_load(path, trust=trust, what="classifier file"), "torch")


def _load_skops(path: Path, trust: bool = False) -> SklearnClassifier:
    state = skops_load(path, trust=trust)
    if isinstance(state, dict) and "estimator" in state:
        check_estimator(state["estimator"], path, trust=trust)
    return _from_state(path, state, "sklearn")


def _load_pkl(path: Path, trust: bool = False) -> SklearnClassifier:
    clf = load_pickle(path, trust=trust)
    if not isinstance(clf, SklearnClassifier):
        raise BadInputError(f"{path}: not a LeukoScan classifier (a pickled {type(clf).__name__})")
    CLASSIFIERS.entry(clf.name)  # a name this version knows
    return clf


def _load_onnx(path: Path, trust: bool = False) -> OnnxClassifier:
    return OnnxClassifier(path)


#: Saved-file suffix -> reader (the file format, not a guess from the model name).
READERS = {
    Path(TORCH_FILE).suffix: _load_pt,
    Path(SKLEARN_FILE).suffix: _load_skops,
    Path(PICKLE_FILE).suffix: _load_pkl,
    ".onnx": _load_onnx,
}


def load(path_or_run_dir: str | Path, *, trust: bool = False) -> Any:
    """A trained classifier from a run folder, ``model.pt``, ``model.skops``, ``model.pkl`` or ``model.onnx``.

    ``trust=True`` (``--trust-model``) allows files that run code when loaded (pickles).
    """
    path = weights_file(path_or_run_dir)
    if path.suffix not in READERS:
        raise BadInputError(f"{path}: not a classifier file (expected {', '.join(READERS)})")
    return READERS[path.suffix](path, trust)
