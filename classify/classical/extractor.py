"""Segmentation -> feature sets -> scikit-learn classifier, as a zoo classifier object.

:class:`ClassicalExtractor` turns RGB uint8 crops into feature rows ``(N, D)``: enhancement
steps, resize to ``size`` px square, nucleus segmentation (:mod:`.segmentation`, central
cell), cell mask, then the named feature sets (:mod:`.features`). Wrapped in the zoo's
:class:`~classify.model.SklearnClassifier`, it fits, predicts, caches features across CV
folds and saves (``model.pkl``) exactly like ``handcrafted+svm``.

Fallback (documented, counted): when segmentation finds no nucleus, a centred disc of
radius ``size / 4`` is used as the nucleus; ``extractor.n_fallback`` counts such crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leukoscan.errors import ConfigError

from ..model import CachedExtractor, SklearnClassifier
from ..preprocess import PreprocessCfg, apply_steps, resize_square
from .classifiers import build_estimator
from .features import compute, feature_names
from .segmentation import METHODS, segment_cell, segment_nucleus


def centre_disc(h: int, w: int, frac: float = 0.25) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (frac * min(h, w)) ** 2


class ClassicalExtractor(CachedExtractor):
    """Features of ``segmentation`` + ``features`` on crops resized to ``preprocess.input_size``."""

    def __init__(self, segmentation: str, features: Sequence[str], preprocess: PreprocessCfg, seed: int = 0) -> None:
        super().__init__()
        if segmentation not in METHODS:
            raise ConfigError(f"Unknown segmentation {segmentation!r}. Valid: {', '.join(METHODS)}")
        for f in features:
            feature_names(f)  # validates
        self.segmentation, self.features = segmentation, tuple(features)
        self.preprocess, self.seed = preprocess, seed
        self.n_fallback = 0

    @property
    def columns(self) -> list[str]:
        return [c for f in self.features for c in feature_names(f)]

    def masks(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rgb, nucleus, cell)`` of one crop after steps and resizing."""
        rgb = resize_square(apply_steps(np.asarray(crop)[..., :3], self.preprocess.steps), self.preprocess.input_size)
        nucleus = segment_nucleus(rgb, self.segmentation, seed=self.seed)
        if nucleus.sum() < 16:
            self.n_fallback += 1
            nucleus = centre_disc(*rgb.shape[:2])
        return rgb, nucleus, segment_cell(rgb, nucleus)

    def _compute(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([compute(self.features, *self.masks(c)) for c in crops])


def build_classical(
    segmentation: str,
    features: Sequence[str],
    classifier: str,
    *,
    num_classes: int = 2,
    class_names: Sequence[str] | None = None,
    imgsz: int | None = None,
    steps: Sequence[str] = (),
    seed: int = 0,
    preprocess: PreprocessCfg | None = None,
    name: str | None = None,
    default_size: int = 128,
) -> SklearnClassifier:
    """A :class:`SklearnClassifier` ``segmentation+features+classifier`` (``imgsz`` px crops)."""
    pre = preprocess or PreprocessCfg(input_size=int(imgsz or default_size), steps=tuple(steps))
    names = tuple(class_names) if class_names is not None else tuple(f"class{i}" for i in range(num_classes))
    if len(names) != num_classes:
        raise ConfigError(f"{len(names)} class names for num_classes={num_classes}")
    label = name or "+".join([segmentation, *features, classifier])
    return SklearnClassifier(
        label, ClassicalExtractor(segmentation, features, pre, seed), build_estimator(classifier, seed), names
    )
