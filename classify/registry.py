"""``CLASSIFIERS``: the classifier zoo by name; loading any saved classifier.

Entries are registered in :mod:`leukoscan.classify.models` with their kind (``"torch"``:
a network trained end to end, saved as ``model.pt``; ``"sklearn"``: features + a
scikit-learn estimator, saved as ``model.pkl``) and their loader. :func:`load` reads a
run folder, a ``model.pt`` / ``model.pkl`` or an exported ``model.onnx``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from leukoscan.classify.model import SKLEARN_FILE, TORCH_FILE, SklearnClassifier, TorchClassifier
from leukoscan.classify.onnx import OnnxClassifier
from leukoscan.classify.preprocess import PreprocessCfg
from leukoscan.errors import BadInputError
from leukoscan.registry import Registry
from leukoscan.runs import weights_file

CLASSIFIERS = Registry("classifier")


def build(name: str, *, num_classes: int = 2, pretrained: bool = True, **kwargs: Any) -> Any:
    """Build an untrained classifier by registered name (see :func:`list_names`)."""
    return CLASSIFIERS.build(name, num_classes=num_classes, pretrained=pretrained, **kwargs)


def list_names(kind: str | None = None) -> list[str]:
    """Registered names, optionally of one kind (``"torch"`` or ``"sklearn"``)."""
    return CLASSIFIERS.list_names(kind)


def load_torch_state(blob: dict[str, Any]) -> TorchClassifier:
    """Rebuild a torch classifier from a ``model.pt`` blob (name, build kwargs, state dict)."""
    pre = PreprocessCfg(**{k: tuple(v) if isinstance(v, list) else v for k, v in blob["preprocess"].items()})
    clf = build(blob["name"], num_classes=len(blob["class_names"]), pretrained=False,
                class_names=blob["class_names"], preprocess=pre, **blob["build_kwargs"])
    clf.net.load_state_dict(blob["state_dict"])
    clf.net.eval()
    return clf


#: Where classes of pickles written before the ``leukoscan.*`` namespace live now.
_MOVED = {"classify.": "leukoscan.classify.", "detect.": "leukoscan.detect."}
_RENAMED = {("leukoscan.classify.model", "HandcraftedExtractor"): "leukoscan.classify.models.handcrafted",
            ("leukoscan.classify.model", "_CachedExtractor"): "leukoscan.classify.model"}


class _Unpickler(pickle.Unpickler):
    """Reads pickles of older layouts (top-level ``classify``) into the current classes."""

    def find_class(self, module: str, name: str) -> Any:
        for old, new in _MOVED.items():
            if module == old[:-1] or module.startswith(old):
                module = new + module[len(old):] if module.startswith(old) else new[:-1]
        module = _RENAMED.get((module, name), module)
        return super().find_class(module, "CachedExtractor" if name == "_CachedExtractor" else name)


def load_pickle(path: Path) -> SklearnClassifier:
    """A pickled scikit-learn composition (pickles run code when loaded: only your own files)."""
    with open(path, "rb") as f:
        return _Unpickler(f).load()


def _load_pt(path: Path) -> TorchClassifier:
    import torch  # heavy: only when a torch classifier is read

    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise BadInputError(f"{path}: not a readable classifier file ({str(e).splitlines()[0]})") from e
    return CLASSIFIERS.load(blob["name"], blob)


def _load_pkl(path: Path) -> SklearnClassifier:
    clf = load_pickle(path)
    CLASSIFIERS.entry(clf.name)  # a name this version knows
    return clf


#: Saved-file suffix -> reader (the file format, not a guess from the model name).
READERS = {TORCH_FILE[-3:]: _load_pt, SKLEARN_FILE[-4:]: _load_pkl, ".onnx": OnnxClassifier}


def load(path_or_run_dir: str | Path) -> Any:
    """A trained classifier from a run folder, ``model.pt``, ``model.pkl`` or ``model.onnx``."""
    path = weights_file(path_or_run_dir)
    if path.suffix not in READERS:
        raise BadInputError(f"{path}: not a classifier file (expected {', '.join(READERS)})")
    return READERS[path.suffix](path)
