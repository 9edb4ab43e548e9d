"""Classification stage: the blast-vs-normal classifier zoo on leukocyte crops.

Installed as ``leukoscan.classify``; never imports ``leukoscan.detect`` (the application
layer, :mod:`leukoscan.pipeline`, joins the two stages).

Public API::

    from leukoscan import classify
    classify.list_names()                       # registered models
    clf = classify.build("resnet18", num_classes=2, pretrained=True, imgsz=96)
    clf = classify.load("runs/classify/exp")    # run folder or model.pt / model.pkl
    clf.class_names, clf.preprocess             # PreprocessCfg(input_size, mean, std, steps)
    proba = clf.predict_proba(crops)            # list of RGB uint8 crops -> (N, C)
"""

from __future__ import annotations

from leukoscan.classify import (
    classical,  # noqa: F401  (registers compositions and seed recipes)
    models,  # noqa: F401  (registers the zoo)
)
from leukoscan.classify.registry import CLASSIFIERS, build, list_names, load

__all__ = ["CLASSIFIERS", "build", "list_names", "load"]
