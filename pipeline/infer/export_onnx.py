"""Export a trained detector + classifier pair to ONNX next to their weights."""

from __future__ import annotations

from pathlib import Path

from leukoscan import classify, detect
from leukoscan.classify.onnx import export_classifier
from leukoscan.runs import onnx_twin, weights_file


def export_pair(detector: str | Path, classifier: str | Path | None) -> dict[str, str]:
    """Export a detector run (and a torch classifier run) to ONNX next to their weights.

    Returns ``{"detector": path, "classifier": path or why not}``.
    """
    out = {"detector": str(detect.load(detector).export_onnx(onnx_twin(weights_file(detector))))}
    if classifier is not None:
        clf = classify.load(classifier)
        if clf.kind == "torch":
            src = weights_file(classifier)
            out["classifier"] = str(export_classifier(clf, onnx_twin(src), source=src))
        else:
            out["classifier"] = f"not exported: {clf.name} is a {clf.kind} model; --onnx uses it as is"
    return out
