"""Classifier objects: a torch network or a feature extractor + scikit-learn estimator.

Both expose the same interface: ``name``, ``class_names``, ``preprocess``
(:class:`~leukoscan.classify.preprocess.PreprocessCfg`), ``fit(images, labels, cfg)``,
``predict_proba(crops) -> (N, C)`` for a list of RGB uint8 crops of any size,
``save(folder) -> Path``. :func:`leukoscan.classify.load` reads either kind back.

Files: torch models -> ``model.pt`` (state dict + name + build kwargs + class names +
preprocess); scikit-learn compositions -> ``model.pkl`` (the whole pickled object;
pickles execute code when loaded: load only files you produced).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.engine import fit_torch, predict_torch
from leukoscan.classify.preprocess import (
    AugmentCfg,
    PreprocessCfg,
    prepare_crop,
    to_tensor,
)
from leukoscan.device import autocast
from leukoscan.io import atomic_path

TORCH_FILE, SKLEARN_FILE = "model.pt", "model.pkl"


@dataclass(frozen=True)
class FitCfg:
    """How to fit one classifier (epochs/batch/lr are ignored by scikit-learn models)."""

    epochs: int = 30
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    device: str = "auto"
    seed: int = 0
    augment: AugmentCfg = field(default_factory=AugmentCfg)


class TorchClassifier:
    """A zoo network trained end to end on crops."""

    kind = "torch"

    def __init__(self, name: str, net: Any, class_names: Sequence[str], preprocess: PreprocessCfg,
                 build_kwargs: dict | None = None) -> None:
        self.name, self.net = name, net
        self.class_names = tuple(class_names)
        self.preprocess = preprocess
        self.build_kwargs = dict(build_kwargs or {})
        self.device = "cpu"

    def fit(self, images: Sequence[np.ndarray], labels: np.ndarray, cfg: FitCfg,
            log: Callable[[dict], None] | None = None) -> list[dict]:
        history = fit_torch(self.net, self.preprocess, images, np.asarray(labels), cfg, log=log)
        self.device = next(self.net.parameters()).device.type
        return history

    def to(self, device: str) -> TorchClassifier:
        """Run on ``device``; on CUDA, inference uses float16 autocast (AMP)."""
        self.net.to(device)
        self.device = str(device)
        return self

    def predict_proba(self, crops: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        return predict_torch(self.net, self.preprocess, crops, batch=batch)

    def save(self, folder: str | Path) -> Path:
        import torch


        path = Path(folder) / TORCH_FILE
        blob = {"kind": self.kind, "name": self.name, "class_names": list(self.class_names),
                "preprocess": dataclasses.asdict(self.preprocess), "build_kwargs": self.build_kwargs,
                "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()}}
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)
        return path


class SklearnClassifier:
    """``features(crops) -> (N, D)`` followed by a scikit-learn estimator with ``predict_proba``."""

    kind = "sklearn"

    def __init__(self, name: str, extractor: Any, estimator: Any, class_names: Sequence[str]) -> None:
        self.name, self.extractor, self.estimator = name, extractor, estimator
        self.class_names = tuple(class_names)

    @property
    def preprocess(self) -> PreprocessCfg:
        return self.extractor.preprocess

    def fit(self, images: Sequence[np.ndarray], labels: np.ndarray, cfg: FitCfg | None = None,
            log: Callable[[dict], None] | None = None) -> list[dict]:
        self.estimator.fit(self.extractor(images), np.asarray(labels))
        return []

    def to(self, device: str) -> SklearnClassifier:
        """Deep features run on ``device``; hand-crafted features and the estimator stay on the CPU."""
        if hasattr(self.extractor, "to"):
            self.extractor.to(device)
        return self

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        proba = self.estimator.predict_proba(self.extractor(crops))
        out = np.zeros((len(crops), len(self.class_names)), dtype=np.float32)
        out[:, self.estimator.classes_.astype(int)] = proba  # classes absent in training -> 0
        return out

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / SKLEARN_FILE
        self.extractor.clear_cache()
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            pickle.dump(self, f)
        return path


class CachedExtractor:
    """Base for feature extractors; an opt-in per-crop cache keyed by the crop bytes.

    Features are deterministic, so cross-validation enables the cache (``enable_cache``)
    to compute each crop once across folds (and across ``+svm``/``+rf`` heads sharing a
    store). Off by default, so inference on many slides does not accumulate memory.
    """

    preprocess: PreprocessCfg

    def __init__(self) -> None:
        self._cache: dict[bytes, np.ndarray] | None = None

    def enable_cache(self, store: dict | None = None) -> None:
        self._cache = store if store is not None else {}

    def clear_cache(self) -> None:
        self._cache = None

    @staticmethod
    def _key(crop: np.ndarray) -> bytes:
        import hashlib

        return hashlib.blake2b(np.ascontiguousarray(crop).tobytes(), digest_size=16).digest() + \
            bytes(str(crop.shape), "ascii")

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if self._cache is None:
            return self._compute(list(crops)).astype(np.float32)
        keys = [self._key(c) for c in crops]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            feats = self._compute([crops[i] for i in todo])
            for i, f in zip(todo, feats, strict=True):
                self._cache[keys[i]] = f
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = None
        return state


class DeepExtractor(CachedExtractor):
    """Pooled features ``(N, D)`` of a zoo network built with ``num_classes=0`` (eval mode)."""

    def __init__(self, net: Any, preprocess: PreprocessCfg, batch: int = 32) -> None:
        super().__init__()
        self.net, self.preprocess, self.batch = net.eval(), preprocess, batch

    def to(self, device: str) -> DeepExtractor:
        self.net.to(device)
        return self

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import torch


        device = next(self.net.parameters()).device
        out = []
        with torch.inference_mode(), autocast(device):
            for i in range(0, len(crops), self.batch):
                x = to_tensor([prepare_crop(c, self.preprocess) for c in crops[i:i + self.batch]],
                              self.preprocess).to(device)
                out.append(self.net(x).float().cpu().numpy())
        return np.concatenate(out)
