"""Classification stage: the blast-vs-normal classifier zoo on leukocyte crops.

Installed as ``leukoscan.classify``; never imports ``leukoscan.detect`` (the application
layer, :mod:`leukoscan.app`, joins the two stages).

Public API::

    from leukoscan import classify
    classify.list_names()                       # registered models
    clf = classify.build("resnet18", num_classes=2, pretrained=True, imgsz=96)
    clf = classify.load("runs/classify/exp")    # run folder or model.pt / model.pkl
    clf.class_names, clf.preprocess             # PreprocessCfg(input_size, mean, std, steps)
    proba = clf.predict_proba(crops)            # list of RGB uint8 crops -> (N, C)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leukoscan.registry import Registry

CLASSIFIERS = Registry("classifier")

from leukoscan.classify.models import register_all  # noqa: E402

register_all(CLASSIFIERS)


def build(name: str, *, num_classes: int = 2, pretrained: bool = True, **kwargs: Any) -> Any:
    """Build an untrained classifier by registered name (see ``list_names()``)."""
    return CLASSIFIERS.build(name, num_classes=num_classes, pretrained=pretrained, **kwargs)


def list_names() -> list[str]:
    return CLASSIFIERS.list_names()


def load(path_or_run_dir: str | Path) -> Any:
    """A trained classifier from ``model.pt`` / ``model.pkl`` or a run folder holding one."""
    from leukoscan.classify.model import load_classifier

    return load_classifier(path_or_run_dir)


__all__ = ["CLASSIFIERS", "build", "list_names", "load"]
