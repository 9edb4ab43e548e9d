"""In-domain pretraining of a zoo backbone on blood-cell crops from a detection dataset.

Pretext task: classify crops cut around annotated boxes of a detection dataset
(default TXL-PBC train: WBC vs RBC vs Platelets), at most ``per_class`` crops per class,
square with ``margin`` and resized to ``imgsz``. The trained network is saved as
``<project>/<name>/backbone.pt`` (``{"state_dict", "arch", "class_names", "imgsz"}``);
``backbone_weights=<that file>`` in a TrainConfig / benchmark entry initialises a
fine-tuned net or a ``<net>+svm/rf`` feature extractor from it (the head is dropped).
No ALL-IDB image is used, so ALL-IDB2 cross-validation stays clean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leukoscan.classify.crops import crop_detections
from leukoscan.classify.model import FitCfg
from leukoscan.classify.registry import CLASSIFIERS, build
from leukoscan.config import save_config
from leukoscan.data import read_detection, resolve
from leukoscan.data.fit_splits import check_fit_splits
from leukoscan.device import set_cpu_threads
from leukoscan.io import atomic_path, atomic_write_json, read_image
from leukoscan.runs import RunDir


@dataclass(frozen=True)
class PretrainConfig:
    arch: str = "resnet18"
    data: str = "txl_pbc"
    data_root: str | None = None
    split: str = "train"
    per_class: int = 600
    imgsz: int = 64
    margin: float = 0.15
    name: str | None = None
    project: str = "runs/classify"
    seed: int = 0
    fit: FitCfg = field(default_factory=lambda: FitCfg(epochs=4, batch=32))


def detection_crops(folder: Path, split: str, per_class: int, imgsz: int, margin: float,
                    seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]:
    """Balanced crops ``(imgsz, imgsz, 3)`` around boxes of a prepared detection split."""
    recs = read_detection(folder, split)
    names = tuple(sorted({n for r in recs for n in r.labels}))
    refs = {n: [(i, j) for i, r in enumerate(recs) for j, lab in enumerate(r.labels) if lab == n]
            for n in names}
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


def pretrain_backbone(cfg: PretrainConfig) -> Path:
    """Train ``cfg.arch`` on the pretext crops; returns the path of ``backbone.pt``."""
    import torch

    set_cpu_threads()
    CLASSIFIERS.entry(cfg.arch)  # an unknown name fails before the data are read
    check_fit_splits((cfg.split,), "split")
    folder = resolve(cfg.data, data_root=cfg.data_root)
    print(f"fitted on: split {cfg.split} of {cfg.data}; no other split is read")
    t0 = time.time()
    crops, labels, names = detection_crops(folder, cfg.split, cfg.per_class, cfg.imgsz, cfg.margin, cfg.seed)
    clf = build(cfg.arch, num_classes=len(names), pretrained=False, imgsz=cfg.imgsz,
                         class_names=names)
    history = clf.fit(crops, labels, cfg.fit)
    train_acc = float((clf.predict_proba(crops).argmax(1) == labels).mean())
    run = RunDir.new(cfg.project, cfg.name, default=f"pretrain_{cfg.arch}").path
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    path = run / "backbone.pt"
    with atomic_path(path) as tmp:
        torch.save({"state_dict": clf.net.state_dict(), "arch": cfg.arch, "class_names": list(names),
                    "imgsz": cfg.imgsz}, tmp)
    atomic_write_json(run / "metrics.json", {
        "fitted_on": f"split {cfg.split} of {cfg.data}", "scored": f"training accuracy on split {cfg.split}",
        "n_crops": len(crops), "per_class": {n: int((labels == k).sum()) for k, n in enumerate(names)},
        "history": history, "train_accuracy": train_acc, "seconds": round(time.time() - t0, 1)})
    return path
