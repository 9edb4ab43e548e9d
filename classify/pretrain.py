"""In-domain pretraining of a zoo backbone on blood cells ("trained on blood").

Two pretext tasks, chosen by the kind of the prepared dataset:
- a *cells* dataset (default ``pbc``: 8 normal blood-cell types, single-cell images):
  classify the cell type. Only the ``train`` split is fitted; ``val`` and ``test`` are
  scored once at the end (accuracy, balanced accuracy, per-class recall with Wilson CIs).
  Each image is centre-cropped to ``center`` of its side (PBC cells fill about a third
  of the image; the pipeline's crops are box + margin, so the cell fills most of them).
- a *detection* dataset (e.g. ``txl_pbc``): classify crops cut around annotated boxes
  (WBC vs RBC vs Platelets), at most ``per_class`` crops per class, square with ``margin``.

Crops are resized to ``imgsz``. The trained network is saved as
``<project>/<name>/backbone.pt`` (``{"state_dict", "arch", "class_names", "imgsz"}``);
``backbone_weights=<that file>`` in a TrainConfig / benchmark entry initialises a
fine-tuned net or a ``<net>+svm/rf`` feature extractor from it (the head is dropped).
No ALL-IDB image is used, so ALL-IDB2 cross-validation stays clean.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leukoscan.bundled import open_data_name, write_bundle
from leukoscan.classify.crops import CROP_MARGIN, crop_detections
from leukoscan.classify.data import load_cells
from leukoscan.classify.metrics import multiclass_report
from leukoscan.classify.model import FitCfg
from leukoscan.classify.preprocess import AugmentCfg
from leukoscan.classify.registry import CLASSIFIERS, build
from leukoscan.config import check_min, save_config
from leukoscan.data import canonical_kind, read_detection, resolve
from leukoscan.data.fit_splits import check_fit_splits
from leukoscan.data.pbc import center_crop
from leukoscan.device import set_cpu_threads
from leukoscan.errors import ConfigError, MissingModelError
from leukoscan.io import atomic_path, atomic_write_json, read_image
from leukoscan.runs import RunDir

#: Geometric + strong colour ("stain") augmentation: hue/saturation shifts of the size seen
#: between labs' May-Grunwald-Giemsa / Wright stains, rotations (cells have no orientation).
STAIN_AUGMENT = AugmentCfg(scale=(0.6, 1.0), brightness=0.25, contrast=0.25, saturation=0.35, hue=0.08, p_color=0.9)


@dataclass(frozen=True)
class PretrainConfig:
    arch: str = "resnet18"
    data: str = "pbc"
    data_root: str | None = None
    split: str = "train"
    per_class: int = 600
    imgsz: int = 96
    margin: float = CROP_MARGIN
    center: float = 0.6  # cells datasets: centre crop, fraction of the image side
    name: str | None = None
    project: str = "runs/classify"
    seed: int = 0
    fit: FitCfg = field(default_factory=lambda: FitCfg(epochs=6, batch=32, augment=STAIN_AUGMENT))

    def __post_init__(self) -> None:
        check_min(self, "", per_class=1, imgsz=16)
        if not 0.1 <= self.center <= 1.0:
            raise ConfigError(f"center: {self.center} must be in [0.1, 1]")


def detection_crops(
    folder: Path, split: str, per_class: int, imgsz: int, margin: float, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]:
    """Balanced crops ``(imgsz, imgsz, 3)`` around boxes of a prepared detection split."""
    recs = read_detection(folder, split)
    names = tuple(sorted({n for r in recs for n in r.labels}))
    refs = {n: [(i, j) for i, r in enumerate(recs) for j, lab in enumerate(r.labels) if lab == n] for n in names}
    rng = np.random.default_rng(seed)
    chosen = {n: [refs[n][k] for k in rng.permutation(len(refs[n]))[:per_class]] for n in names}
    by_image: dict[int, list[tuple[int, int]]] = {}
    for ci, n in enumerate(names):
        for i, j in chosen[n]:
            by_image.setdefault(i, []).append((j, ci))
    crops, labels = [], []
    for i, items in sorted(by_image.items()):
        img = read_image(recs[i].path)
        boxes = recs[i].boxes[[j for j, _ in items]]
        crops += crop_detections(img, boxes, margin=margin, size=imgsz)
        labels += [ci for _, ci in items]
    return crops, np.array(labels), names


def cell_crops(
    folder: Path,
    imgsz: int,
    center: float,
    class_names: tuple[str, ...] | None = None,
) -> tuple[dict[str, tuple[list[np.ndarray], np.ndarray]], tuple[str, ...]]:
    """A prepared cells folder -> ``{split: (crops, labels)}``; crops centre-cut, ``(imgsz, imgsz, 3)``."""
    import cv2

    cells = load_cells(folder, class_names)
    out: dict[str, tuple[list[np.ndarray], list[int]]] = {}
    for img, lab, split in zip(cells.images, cells.labels, cells.splits, strict=True):
        crop = cv2.resize(center_crop(img, center), (imgsz, imgsz), interpolation=cv2.INTER_AREA)
        out.setdefault(split, ([], []))
        out[split][0].append(crop)
        out[split][1].append(int(lab))
    return {k: (v[0], np.array(v[1], dtype=int)) for k, v in out.items()}, cells.class_names


def _scored(clf, by_split: dict, names: tuple[str, ...]) -> dict:
    """Held-out splits scored once: accuracy, balanced accuracy, per-class recall (Wilson CIs)."""
    res = {}
    for split in ("val", "test"):
        if split in by_split:
            crops, labels = by_split[split]
            pred = clf.predict_proba(crops).argmax(1)
            res[split] = multiclass_report(labels, pred, names).to_dict()
    return res


def pretrain_backbone(cfg: PretrainConfig) -> Path:
    """Train ``cfg.arch`` on the pretext task; returns the path of ``backbone.pt``.

    Cells datasets fit the ``train`` split only (never ``val``, ``test`` or items with no
    split) and score ``val``/``test`` once; the report names the splits.
    """
    import torch

    set_cpu_threads()
    CLASSIFIERS.entry(cfg.arch)  # an unknown name fails before the data are read
    check_fit_splits((cfg.split,), "split")
    folder = resolve(cfg.data, data_root=cfg.data_root)
    t0 = time.time()
    held: dict = {}
    if canonical_kind(folder) == "cells":
        by_split, names = cell_crops(folder, cfg.imgsz, cfg.center)
        if cfg.split not in by_split:
            raise ConfigError(f"{cfg.data}: no items in split {cfg.split!r} (have {sorted(by_split)})")
        crops, labels = by_split[cfg.split]
        held = {k: v for k, v in by_split.items() if k in ("val", "test") and k != cfg.split}
    else:
        crops, labels, names = detection_crops(folder, cfg.split, cfg.per_class, cfg.imgsz, cfg.margin, cfg.seed)
    print(
        f"pretrain {cfg.arch} on {cfg.data}: fit split {cfg.split!r} ({len(crops)} crops, "
        f"{len(names)} classes); scored once after training: {sorted(held) or 'none'}",
        flush=True,
    )
    clf = build(cfg.arch, num_classes=len(names), pretrained=False, imgsz=cfg.imgsz, class_names=names)
    t_fit = time.time()

    def progress(row: dict) -> None:  # one line per epoch: hours of CPU training are not silent
        done = int(row["epoch"])
        eta = (time.time() - t_fit) / done * (cfg.fit.epochs - done)
        print(
            f"  epoch {done}/{cfg.fit.epochs}: train loss {row['train_loss']:.4f}, about {eta / 60:.0f} min left",
            flush=True,
        )

    history = clf.fit(crops, labels, cfg.fit, log=progress)
    train_acc = float((clf.predict_proba(crops).argmax(1) == labels).mean())
    scores = _scored(clf, held, names)
    run = RunDir.new(cfg.project, cfg.name, default=f"pretrain_{cfg.arch}").path
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    path = run / "backbone.pt"
    with atomic_path(path) as tmp:
        torch.save(
            {
                "state_dict": clf.net.state_dict(),
                "arch": cfg.arch,
                "class_names": list(names),
                "imgsz": cfg.imgsz,
                "data": cfg.data,
                "center": cfg.center,
                "preprocess": {"mean": list(clf.preprocess.mean), "std": list(clf.preprocess.std)},
            },
            tmp,
        )
    atomic_write_json(
        run / "metrics.json",
        {
            "fit_split": cfg.split,
            "scored_splits": sorted(scores),
            "n_crops": len(crops),
            "per_class": {n: int((labels == k).sum()) for k, n in enumerate(names)},
            "history": history,
            "train_accuracy": train_acc,
            **scores,
            "seconds": round(time.time() - t0, 1),
        },
    )
    for split, r in scores.items():
        print(
            f"  {split}: accuracy {r['accuracy']['value']:.3f} (n={r['n']}), balanced {r['balanced_accuracy']:.3f}",
            flush=True,
        )
    return path


def bundle_backbone(
    run: str | Path, *, name: str | None = None, out: str | Path | None = None, commit: str | None = None
) -> Path:
    """Turn a pretraining run (``backbone.pt`` + metrics) into bundled weights with a model card.

    The file keeps the whole 8-class network in float16 (it is both a backbone for
    ``pretrained: pbc`` and a cell-type classifier) plus arch, class names, input size and
    normalisation; the card holds data, licence, recipe command, commit and the held-out
    metrics the run wrote. Refused for data that may not be redistributed (ALL-IDB).
    """
    import torch
    import yaml

    run = Path(run)
    for f in ("backbone.pt", "metrics.json", "config.yaml"):
        if not (run / f).is_file():
            raise MissingModelError(f"{run}: no {f} (not a finished pretrain-backbone run)")
    blob = torch.load(run / "backbone.pt", map_location="cpu", weights_only=True)
    metrics = json.loads((run / "metrics.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    arch = blob["arch"]
    data = open_data_name(cfg["data"])  # refuses ALL-IDB-derived or unknown data before writing anything
    name = name or f"{data}_{arch}"
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
    payload = {
        "format": "leukoscan-weights/1",
        "kind": "classifier",
        "arch": arch,
        "state_dict": state,
        **{k: blob[k] for k in ("class_names", "imgsz", "center", "preprocess") if k in blob},
    }
    held = {
        s: {
            "n": metrics[s]["n"],
            "accuracy": metrics[s]["accuracy"],
            "balanced_accuracy": metrics[s]["balanced_accuracy"],
            "recall": {
                c: {"value": r["value"], "ci95": r["ci95"], "n": r["n"]} for c, r in metrics[s]["recall"].items()
            },
        }
        for s in metrics.get("scored_splits", [])
        if s in metrics
    }
    fields = {
        "kind": "classifier",
        "arch": arch,
        "data": data,
        "class_names": blob["class_names"],
        "input": {
            "imgsz": blob["imgsz"],
            "center_crop_of_training_images": blob.get("center"),
            "mean": blob.get("preprocess", {}).get("mean"),
            "std": blob.get("preprocess", {}).get("std"),
        },
        "recipe": (
            f"leukoscan pretrain-backbone --arch {arch} --data {data} "
            f"--imgsz {cfg['imgsz']} --epochs {cfg['fit']['epochs']} --bundle"
        ),
        "fit": {
            "split": metrics.get("fit_split"),
            "n_crops": metrics.get("n_crops"),
            "epochs": cfg["fit"]["epochs"],
            "seconds": metrics.get("seconds"),
        },
        "commit": commit,
        "held_out": held,
        "limits": [
            "8 normal peripheral-blood cell types only: no blasts (PBC has none)",
            "one hospital, one analyser (CellaVision DM96), one stain (May Grunwald-Giemsa)",
            "PBC publishes no patient ids: the held-out split is by image, not by patient",
            f"trained on centre crops at {blob['imgsz']} px; other scales and stains need checking",
        ],
        "use": "pretrained=pbc in a classifier config (backbone); the full network types PBC-like cells",
    }
    return write_bundle(name, payload, fields, out=out)
