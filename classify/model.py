"""Classifier objects: a torch network or a feature extractor + scikit-learn estimator.

Both expose the same interface: ``name``, ``class_names``, ``preprocess``
(:class:`~leukoscan.classify.preprocess.PreprocessCfg`), ``fit(images, labels, cfg)``,
``predict_proba(crops) -> (N, C)`` for a list of RGB uint8 crops of any size,
``save(folder) -> Path``. :func:`leukoscan.classify.load` reads either kind back.

Files: torch models -> ``model.pt`` (state dict + name + build kwargs + class names +
preprocess, read with ``weights_only=True``); scikit-learn compositions ->
``model.skops`` (``skops`` format: the estimator, name, class names, preprocess and, for
deep features, the backbone's weights as arrays; no pickle, so loading runs no code).
Older runs have ``model.pkl`` (a pickle): loaded only with ``--trust-model``.
"""

from __future__ import annotations

import dataclasses
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
from leukoscan.config import check_min
from leukoscan.device import autocast
from leukoscan.errors import DataError
from leukoscan.io import atomic_path

TORCH_FILE, SKLEARN_FILE, PICKLE_FILE = "model.pt", "model.skops", "model.pkl"


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

    def __post_init__(self) -> None:
        check_min(self, "fit.", epochs=1, batch=1, lr=0, weight_decay=0, label_smoothing=0)


class TorchClassifier:
    """A zoo network trained end to end on crops."""

    kind = "torch"

    def __init__(
        self,
        name: str,
        net: Any,
        class_names: Sequence[str],
        preprocess: PreprocessCfg,
        build_kwargs: dict | None = None,
    ) -> None:
        self.name, self.net = name, net
        self.class_names = tuple(class_names)
        self.preprocess = preprocess
        self.build_kwargs = dict(build_kwargs or {})
        self.device = "cpu"

    def fit(
        self, images: Sequence[np.ndarray], labels: np.ndarray, cfg: FitCfg, log: Callable[[dict], None] | None = None
    ) -> list[dict]:
        history = fit_torch(self.net, self.preprocess, images, np.asarray(labels), cfg, log=log)
        self.device = next(self.net.parameters()).device.type
        return history

    def to(self, device: str) -> TorchClassifier:
        """Run inference on ``device`` ("cpu", "cuda:0"); on CUDA in float16 autocast (AMP)."""
        self.net.to(device)
        self.device = str(device)
        return self

    def predict_proba(self, crops: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        return predict_torch(self.net, self.preprocess, crops, batch=batch)

    def save(self, folder: str | Path) -> Path:
        import torch

        path = Path(folder) / TORCH_FILE
        blob = {
            "kind": self.kind,
            "name": self.name,
            "class_names": list(self.class_names),
            "preprocess": dataclasses.asdict(self.preprocess),
            "build_kwargs": self.build_kwargs,
            "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()},
        }
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

    @property
    def device(self) -> str:
        """Where the feature network runs (handcrafted features and the estimator: CPU)."""
        net = getattr(self.extractor, "net", None)
        return "cpu" if net is None else str(next(net.parameters()).device)

    def to(self, device: str) -> SklearnClassifier:
        """Run the deep-feature network (if any) on ``device``; the estimator stays on the CPU."""
        if getattr(self.extractor, "net", None) is not None:
            self.extractor.net.to(device)
        return self

    def fit(
        self,
        images: Sequence[np.ndarray],
        labels: np.ndarray,
        cfg: FitCfg | None = None,
        log: Callable[[dict], None] | None = None,
    ) -> list[dict]:
        labels = np.asarray(labels)
        few = {
            self.class_names[int(c)]: int(n)
            for c, n in zip(*np.unique(labels, return_counts=True), strict=True)
            if n < 3
        }
        if few and "svm" in self.name:  # the SVM head calibrates with 3-fold CV inside the fit
            raise DataError(
                f"{self.name}: classes with fewer than 3 training items {few}; the SVM head needs "
                "3 per class (drop the class from the data, or use a +rf head)"
            )
        self.estimator.fit(self.extractor(images), labels)
        return []

    def predict_proba(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        proba = self.estimator.predict_proba(self.extractor(crops))
        out = np.zeros((len(crops), len(self.class_names)), dtype=np.float32)
        out[:, self.estimator.classes_.astype(int)] = proba  # classes absent in training -> 0
        return out

    def save(self, folder: str | Path) -> Path:
        """``folder/model.skops``: a safe format (see the module docstring)."""
        import skops.io as sio

        path = Path(folder) / SKLEARN_FILE
        self.extractor.clear_cache()
        state = {
            "format": 1,
            "kind": self.kind,
            "name": self.name,
            "class_names": list(self.class_names),
            "preprocess": _plain(dataclasses.asdict(self.preprocess)),
            "estimator": self.estimator,
            "features": self.extractor.weights(),
        }
        with atomic_path(path) as tmp:
            sio.dump(state, tmp)
        return path


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Tuples -> lists (the skops state holds plain containers only)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


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

        return hashlib.blake2b(np.ascontiguousarray(crop).tobytes(), digest_size=16).digest() + bytes(
            str(crop.shape), "ascii"
        )

    #: Feature computations over at least this many crops show a progress bar (stderr).
    PROGRESS_MIN = 64

    def _compute_with_progress(self, crops: list[np.ndarray]) -> np.ndarray:
        if len(crops) < self.PROGRESS_MIN:
            return self._compute(crops)
        from tqdm import tqdm

        step = 32
        parts = [
            self._compute(crops[i : i + step])
            for i in tqdm(range(0, len(crops), step), desc=f"features ({len(crops)} crops)", unit="batch", leave=False)
        ]
        return np.concatenate(parts)

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if self._cache is None:
            return self._compute_with_progress(list(crops)).astype(np.float32)
        keys = [self._key(c) for c in crops]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            feats = self._compute_with_progress([crops[i] for i in todo])
            for i, f in zip(todo, feats, strict=True):
                self._cache[keys[i]] = f
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def weights(self) -> dict[str, np.ndarray]:
        """Learnt parameters as arrays (none for handcrafted features)."""
        return {}

    def load_weights(self, arrays: dict[str, np.ndarray]) -> None:
        if arrays:
            raise ValueError(f"{type(self).__name__} has no weights to load")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = None
        return state


class DeepExtractor(CachedExtractor):
    """Pooled features ``(N, D)`` of a zoo network built with ``num_classes=0`` (eval mode)."""

    def __init__(self, net: Any, preprocess: PreprocessCfg, batch: int = 32) -> None:
        super().__init__()
        self.net, self.preprocess, self.batch = net.eval(), preprocess, batch

    def weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def load_weights(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.net.eval()

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        device = next(self.net.parameters()).device
        out = []
        with torch.inference_mode(), autocast(device):
            for i in range(0, len(crops), self.batch):
                x = to_tensor(
                    [prepare_crop(c, self.preprocess) for c in crops[i : i + self.batch]], self.preprocess
                ).to(device)
                out.append(self.net(x).float().cpu().numpy())
        return np.concatenate(out)
