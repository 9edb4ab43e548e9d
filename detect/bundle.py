"""Bundle a finished YOLO run on open data into the package (``leukoscan/weights``) with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leukoscan.bundled import open_data_name, write_bundle
from leukoscan.detect.backends.yolo import WEIGHTS_FORMAT, YoloDetector
from leukoscan.detect.registry import load
from leukoscan.errors import BadInputError, MissingModelError
from leukoscan.runs import RunDir


def bundle_detector(
    run: str | Path,
    *,
    name: str | None = None,
    out: str | Path | None = None,
    commit: str | None = None,
    extra_metrics: dict[str, Any] | None = None,
) -> Path:
    """Turn a finished YOLO training run on open data into bundled weights + model card.

    The file is a LeukoScan weights file (float16 state dict + meta, read weights-only and
    rebuilt from the architecture's YAML); the card holds data, licence, recipe, commit, the
    run's own val metrics and ``extra_metrics`` (e.g. other sources' val splits).
    """
    rd = RunDir(Path(run))
    if not (rd.path / rd.metrics.name).is_file():
        raise MissingModelError(f"{run}: no {rd.metrics.name} (not a finished detector training run)")
    metrics = rd.read_json(rd.metrics.name)
    data = open_data_name(metrics["data_dir"])  # refuses ALL-IDB-derived runs before writing
    det = load(rd.path, trust=True)  # our own finished run (its ultralytics checkpoint)
    if not isinstance(det, YoloDetector):
        raise BadInputError(f"{run}: only YOLO detectors are bundled (got {type(det).__name__})")
    name = name or f"{data}_{det.meta.backend}"
    net = det.model.model
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in net.state_dict().items()}
    meta = det.meta.to_dict()
    blob = {"format": WEIGHTS_FORMAT, "leukoscan": meta, "state_dict": state}
    keep = ("map50", "map50_95", "per_class", "centroids", "epochs", "imgsz", "seconds_per_epoch", "split")
    fields = {
        "kind": "detector",
        "arch": det.meta.backend,
        "data": data,
        "class_names": det.meta.class_names,
        "input": {"imgsz": det.meta.imgsz},
        "recipe": (
            f"leukoscan prepare-data {data} --data-root DATA && leukoscan train-detector --data runs/data/{data} "
            f"--epochs {metrics.get('epochs')} --imgsz {metrics.get('imgsz')} --scratch && "
            f"leukoscan bundle-weights --detector RUN"
        ),
        "commit": commit,
        "val_metrics": {k: metrics[k] for k in keep if k in metrics},
        "other_metrics": extra_metrics or {},
        "limits": [
            "trained from scratch on CPU for a short schedule (see val_metrics.epochs)",
            "BCCD / TXL-PBC fields (Wright/Giemsa, 640x480-class images): other magnifications need "
            "tiling or a rescale (infer tiles large slides)",
            "no blast class: counts white cells only",
        ],
        "use": "leukoscan infer uses it when no detector is named and none has been trained; "
        "pretrained=blood initialises YOLO training from it",
    }
    return write_bundle(name, blob, fields, out=out)
