"""Export a trained detector + classifier pair to ONNX next to their weights."""

from __future__ import annotations

from pathlib import Path

from leukoscan import classify, detect
from leukoscan.classify.onnx import export_classifier, onnx_path


def export_pair(detector: str | Path, classifier: str | Path | None) -> dict[str, str]:
    """Export a detector run (and a torch classifier run) to ONNX next to their weights."""
    out = {"detector": str(detect.load(detector).export_onnx(onnx_path(detector, "detector")))}
    if classifier is not None:
        clf = classify.load(classifier)
        if getattr(clf, "kind", "") == "torch":
            out["classifier"] = str(export_classifier(clf, onnx_path(classifier, "classifier")))
        else:
            out["classifier"] = f"not exported: {clf.name} is a scikit-learn composition; --onnx uses it as is"
    return out
