"""ONNX export of torch classifiers and an onnxruntime classifier with the same interface.

Export writes ``<path>`` (graph with softmax, dynamic batch) and ``<path>.json`` (class
names and the model's preprocessing). scikit-learn compositions are not exported: they
already run on the CPU without torch; :func:`export_classifier` says so.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.preprocess import PreprocessCfg, prepare_crop, to_tensor
from leukoscan.errors import BadInputError, MissingModelError
from leukoscan.io import atomic_path, atomic_write_json
from leukoscan.runs import twin_source


def export_classifier(clf: Any, path: str | Path, *, opset: int = 17, source: str | Path | None = None) -> Path:
    """Write ``clf`` (a torch classifier) to ONNX at ``path`` plus a ``.json`` sidecar."""
    import torch

    if getattr(clf, "kind", "") != "torch":
        raise BadInputError(
            f"classifier {getattr(clf, 'name', clf)!r} is a scikit-learn composition; "
            "ONNX export covers torch networks only (use the model.skops with --onnx as is)"
        )
    path = Path(path)
    net = torch.nn.Sequential(clf.net, torch.nn.Softmax(dim=1)).cpu().eval()
    size = clf.preprocess.input_size
    x = torch.zeros(1, 3, size, size)
    with atomic_path(path) as tmp, torch.inference_mode():
        torch.onnx.export(
            net,
            x,
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["images"],
            output_names=["probs"],
            dynamic_axes={"images": {0: "n"}, "probs": {0: "n"}},
        )
    atomic_write_json(
        path.with_suffix(".json"),
        {
            "name": clf.name,
            "class_names": list(clf.class_names),
            "preprocess": dataclasses.asdict(clf.preprocess),
            **twin_source(source),
        },
    )
    return path


class OnnxClassifier:
    """onnxruntime twin of a torch classifier: same ``class_names``, ``preprocess``, ``predict_proba``."""

    kind = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        meta_file = path.with_suffix(".json")
        if not meta_file.is_file():
            raise MissingModelError(f"{meta_file}: missing sidecar (export with: leukoscan export)")
        try:
            meta = json.loads(meta_file.read_text())
            pre = meta["preprocess"]
            self.name = meta["name"]
            self.class_names = tuple(meta["class_names"])
            self.preprocess = PreprocessCfg(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()})
        except (ValueError, KeyError, TypeError) as e:
            raise BadInputError(f"{meta_file}: not a LeukoScan ONNX sidecar ({type(e).__name__}: {e})") from e
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for a corrupt model
            raise BadInputError(f"{path}: not a readable ONNX model ({str(e).strip().splitlines()[0][:160]})") from e

    def to(self, device: str) -> OnnxClassifier:
        """onnxruntime runs this twin on the CPU; asking for a GPU says so loudly."""
        if not str(device).startswith("cpu"):
            import warnings

            warnings.warn(
                f"{self.name}: the ONNX classifier runs on the CPU (onnxruntime CPU provider), "
                f"not on {device}; drop --onnx to run the torch model on the GPU",
                stacklevel=2,
            )
        return self

    def predict_proba(self, crops: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        out = [np.zeros((0, len(self.class_names)), np.float32)]
        for i in range(0, len(crops), batch):
            x = to_tensor([prepare_crop(c, self.preprocess) for c in crops[i : i + batch]], self.preprocess)
            out.append(self.session.run(None, {"images": x.numpy()})[0].astype(np.float32))
        return np.concatenate(out)
