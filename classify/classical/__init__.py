"""Classical (segmentation + handcrafted features + classifier) pipelines and the seed recipes.

Composable parts, each registered by name:

- segmentation (:mod:`.segmentation`): ``watershed``, ``otsu``, ``kmeans``, ``kmedoids``, ``fcm``
- feature sets (:mod:`.features`): ``glcm``, ``glrlm``, ``lbp``, ``ldp``, ``shape``, ``colour``,
  ``firstorder``
- classifiers (:mod:`.classifiers`): ``svm``, ``rf``, ``dt``, ``knn``, ``nb``, ``mlp``, ``ensemble``

Every ``<segmentation>+<feature set>+<classifier>`` (e.g. ``watershed+glcm+rf``) and every
named recipe of :mod:`.recipes` (``mishra2017``, ..., ``das2022``) is added to the
classifier registry when this package is imported (``leukoscan.classify`` does), so
``classify.build("watershed+glcm+rf")`` and
``classify.build("mishra2017")`` work like any zoo name. :func:`is_classical` tells these
names apart from the zoo (the whole-zoo benchmark leaves them out; the seed-reproduction
benchmark runs the recipes). Whole-slide classification: :mod:`.whole_image`; the seed
table: :mod:`.reproduce`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..registry import CLASSIFIERS, load_sklearn_state, load_torch_state
from .classifiers import ESTIMATORS
from .extractor import build_classical
from .features import FEATURES
from .recipes import RECIPES, build_recipe
from .segmentation import METHODS


def composition_names() -> list[str]:
    return [f"{s}+{f}+{c}" for s in METHODS for f in FEATURES for c in ESTIMATORS]


def is_classical(name: str) -> bool:
    """True for a classical composition or a seed recipe name."""
    parts = name.split("+")
    return name in RECIPES or (
        len(parts) == 3 and parts[0] in METHODS and parts[1] in FEATURES and parts[2] in ESTIMATORS
    )


def _composition_builder(seg: str, feat: str, clf: str):
    def build(
        *,
        num_classes: int = 2,
        pretrained: bool = False,
        class_names: Sequence[str] | None = None,
        imgsz: int | None = None,
        steps: Sequence[str] = (),
        seed: int = 0,
        preprocess: Any = None,
        **kw: Any,
    ) -> Any:

        return build_classical(
            seg,
            (feat,),
            clf,
            num_classes=num_classes,
            class_names=class_names,
            imgsz=imgsz,
            steps=steps,
            seed=seed,
            preprocess=preprocess,
        )

    build.__doc__ = f"{seg} nucleus segmentation -> {feat} features -> {clf} (classical pipeline)."
    return build


def _recipe_builder(name: str):
    def build(**kw: Any) -> Any:
        return build_recipe(name, **kw)

    build.__doc__ = f"Seed recipe {name}: {RECIPES[name].approximation}"
    return build


def register_all(registry: Any) -> None:
    """Add every composition and recipe name to ``registry`` (a duplicate raises).

    Entries carry ``meta["family"] = "classical"`` (the whole-zoo benchmark and the zoo-wide
    tests leave them out) and ``meta["features"]`` (the feature-cache key: the composition
    without its classifier, or the recipe name). Kinds: ``"sklearn"`` (``model.skops``),
    ``"torch"`` for the end-to-end deep recipe (saved and loaded as its zoo network).
    """
    for seg in METHODS:
        for feat in FEATURES:
            for clf in ESTIMATORS:
                registry.add(
                    f"{seg}+{feat}+{clf}",
                    _composition_builder(seg, feat, clf),
                    kind="sklearn",
                    load=load_sklearn_state,
                    family="classical",
                    features=f"{seg}+{feat}",
                )
    for name, r in RECIPES.items():
        torch = r.kind == "deep"
        registry.add(
            name,
            _recipe_builder(name),
            kind="torch" if torch else "sklearn",
            load=load_torch_state if torch else load_sklearn_state,
            family="classical",
            features=name,
        )


register_all(CLASSIFIERS)


__all__ = [
    "ESTIMATORS",
    "FEATURES",
    "METHODS",
    "RECIPES",
    "build_recipe",
    "composition_names",
    "is_classical",
    "register_all",
]
