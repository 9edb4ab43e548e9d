"""The seed-reproduction table: every recipe under a random split, slide-group CV and Canon only.

``run_seed_table(data_root, out)`` runs, with one seed and 5 folds everywhere:

- **cells** (ALL-IDB2 crops, blast = positive): every recipe of :data:`.recipes.RECIPES`
  under ``random`` (stratified 5-fold over crops, what most papers did), ``grouped``
  (stratified 5-fold grouped by ALL-IDB1 overlap group of the source slide) and
  ``canon`` (the Canon crops only, grouped 5-fold; no camera shortcut possible);
- **slides** (ALL-IDB1 whole images, ALL = positive): the camera-only baseline, global
  features + SVM / RF, MobileNetV2 (from scratch) and MobileNetV2 features + SVM, and the
  slide version of every recipe with ``slides=True``, under ``random``, ``grouped``,
  ``canon`` and ``dev`` (train on the 48 dev-train slides, test on the 21 dev-val slides,
  the split of the two-stage pipeline's figures).

Features are computed once per recipe and reused by every scheme (optionally cached on
disk with ``cache``). Metrics: :func:`classify.metrics.binary_report` on the pooled
out-of-fold predictions (Wilson CI for accuracy, bootstrap CI for balanced accuracy).
Writes ``<out>.json`` after every row and ``<out>.md`` (see :mod:`.report`).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.cv import Fold, grouped_stratified_kfold, random_kfold
from leukoscan.classify.metrics import binary_report
from leukoscan.classify.model import FitCfg
from leukoscan.classify.models import _torch_builder
from leukoscan.data.all_idb1 import image_label
from leukoscan.errors import MissingDatasetError
from leukoscan.io import read_image

K = 5


@dataclass
class Items:
    """What CV needs: images, labels (1 = positive), groups, cameras."""

    images: list[np.ndarray]
    labels: np.ndarray
    groups: list[str]
    cameras: list[str]
    dev_split: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


def load_cells(all_idb: str | Path) -> Items:
    """ALL-IDB2 crops with overlap groups and camera of their source slide (read-only)."""
    root = Path(all_idb)
    paths = sorted((root / "ALL_IDB2" / "img").glob("*.tif"))
    if not paths:
        raise MissingDatasetError(f"{root / 'ALL_IDB2' / 'img'}: no .tif crops")
    with open(root / "allidb2_provenance.csv", newline="") as f:
        src = {r["crop"]: r["source_image"] for r in csv.DictReader(f)}
    with open(root / "allidb1_image_meta.csv", newline="") as f:
        meta = {r["image"]: r for r in csv.DictReader(f)}
    groups, cams = [], []
    for p in paths:
        m = meta.get(src.get(p.stem, ""), {})
        groups.append(f"g{m['group_id']}" if m else p.stem)
        cams.append(m.get("camera", "unknown").split(" ")[0])
    return Items([read_image(p)[..., :3] for p in paths], np.array([image_label(p.stem) for p in paths]),
                 groups, cams)


def schemes(items: Items, seed: int = 0) -> dict[str, tuple[np.ndarray, list[Fold]]]:
    """``name -> (item indices, folds over those indices)``."""
    idx = np.arange(len(items))
    y = items.labels
    out = {"random": (idx, random_kfold(y, K, seed=seed)),
           "grouped": (idx, grouped_stratified_kfold(y, items.groups, K, seed=seed))}
    canon = np.array([i for i in idx if items.cameras[i].lower() == "canon"])
    if len(canon) and len(set(y[canon])) == 2:
        out["canon"] = (canon, grouped_stratified_kfold(y[canon], [items.groups[i] for i in canon], K, seed=seed))
    if items.dev_split and {"train", "val"} <= set(items.dev_split):
        tr = np.array([i for i in idx if items.dev_split[i] == "train"])
        te = np.array([i for i in idx if items.dev_split[i] == "val"])
        out["dev"] = (idx, [(tr, te)])
    return out


def oof(fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray], sub: np.ndarray,
        folds: list[Fold], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold p(positive) for the items ``sub[test]`` of every fold -> (indices, p)."""
    tested, proba = [], []
    for tr, te in folds:
        tested.append(sub[te])
        proba.append(fit_predict(sub[tr], sub[te]))
    return np.concatenate(tested), np.concatenate(proba)


def metrics(y: np.ndarray, p: np.ndarray, cameras: list[str], n_boot: int, names=("negative", "positive")) -> dict:
    proba = np.column_stack([1 - p, p])
    rep = binary_report(y, proba, names, positive=1, n_boot=n_boot).to_dict()
    keep = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "auc", "n", "confusion_matrix")
    out = {k: rep[k] for k in keep}
    canon = np.array([c.lower() == "canon" for c in cameras])
    if canon.any() and (~canon).any():  # subgroup of this scheme's predictions
        out["canon_subgroup_balanced_accuracy"] = binary_report(
            y[canon], proba[canon], names, positive=1, n_boot=0).balanced_accuracy.to_dict()["value"]
    return out


def sklearn_fit_predict(X: np.ndarray, y: np.ndarray, make: Callable[[], Any]):
    def fp(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        if len(set(y[tr])) < 2:
            return np.full(len(te), float(y[tr][0]))
        est = make().fit(X[tr], y[tr])
        return est.predict_proba(X[te])[:, list(est.classes_).index(1)]
    return fp


def torch_fit_predict(items: Items, net: str, size: int, epochs: int, seed: int):
    def fp(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        import torch

        torch.manual_seed(seed)
        clf = _torch_builder(net)(num_classes=2, pretrained=False, imgsz=size)
        clf.fit([items.images[i] for i in tr], items.labels[tr], FitCfg(epochs=epochs, batch=16, seed=seed,
                                                                         device="cpu"))
        return clf.predict_proba([items.images[i] for i in te])[:, 1]
    return fp


def run_row(items: Items, fit_predict, n_boot: int, seed: int, only: tuple[str, ...] = ()) -> dict:
    out = {}
    for name, (sub, folds) in schemes(items, seed).items():
        if only and name not in only:
            continue
        t0 = time.time()
        idx, p = oof(fit_predict, sub, folds, len(items))
        out[name] = {**metrics(items.labels[idx], p, [items.cameras[i] for i in idx], n_boot),
                     "seconds": round(time.time() - t0, 1)}
    return out


def cached(cache: Path | None, key: str, fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """``fn()`` or its saved result ``<cache>/<key>.npy``; returns (array, seconds spent)."""
    t0 = time.time()
    path = cache / f"{key}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path), 0.0
    x = fn()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, x)
    return x, time.time() - t0
