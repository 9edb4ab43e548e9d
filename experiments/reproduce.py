"""The seed-reproduction table: every recipe under a random split, slide-group CV and Canon only.

``run_seed_table(data_root, out)`` runs, with 5 folds everywhere, each CV scheme repeated
over ``fold_seeds`` fold assignments (the first seed's pooled figures with their CI, and the
mean and range over seeds next to them):

- **cells** (ALL-IDB2 crops, blast = positive): every recipe of :data:`.recipes.RECIPES`
  under ``random`` (stratified 5-fold over crops, what most papers did), ``grouped``
  (stratified 5-fold grouped by ALL-IDB1 overlap group of the source slide) and
  ``canon`` (the Canon crops only, grouped 5-fold; no camera shortcut possible);
- **slides** (ALL-IDB1 whole images, ALL = positive): the camera-only baseline, global
  features + SVM / RF, MobileNetV2 (from scratch) and MobileNetV2 features + SVM, and the
  slide version of every recipe with ``slides=True``, under ``random``, ``grouped``,
  ``canon`` and ``dev`` (train on the 48 dev-train slides, test on the 21 dev-val slides,
  the split of the two-stage pipeline's figures).

Splits (:mod:`leukoscan.data.fit_splits`): only items of the dev splits (``train`` and
``val`` of ``allidb1_dev_split.csv``, via the crop's source slide) are read and
cross-validated; a ``test`` split is left alone (never decoded) unless named by
``test_split``, in which case the ``test`` scheme fits on every dev item and scores that
split once. Without a split file every item is dev.

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
from leukoscan.classify.repeats import fold_seed_list, summarize
from leukoscan.data.all_idb1 import image_label
from leukoscan.errors import MissingDatasetError
from leukoscan.io import read_image

K = 5


DEV_SPLITS = ("train", "val")
REPEATED = ("random", "grouped", "canon")  # the schemes whose figures depend on the fold seed


@dataclass
class Items:
    """What CV needs: images, labels (1 = positive), groups, cameras; ``splits``: each item's
    own split (``""`` without a split file), ``dev_split``: slides' split for the ``dev`` scheme."""

    images: list[np.ndarray]
    labels: np.ndarray
    groups: list[str]
    cameras: list[str]
    dev_split: list[str] | None = None
    splits: list[str] | None = None
    split_counts: dict[str, int] | None = None  # every item under the root, read or not

    def __len__(self) -> int:
        return len(self.labels)


def read_splits(root: Path) -> dict[str, str]:
    """``{slide stem: split}`` of ``allidb1_dev_split.csv`` (empty without the file)."""
    path = root / "allidb1_dev_split.csv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["image"].strip(): r["split"].strip() for r in csv.DictReader(f)}


def wanted(split: str, have_file: bool, read: tuple[str, ...]) -> bool:
    """Is an item of ``split`` read? Every item without a split file, else only ``read`` splits."""
    return not have_file or split in read


def load_cells(all_idb: str | Path, read: tuple[str, ...] = DEV_SPLITS) -> Items:
    """ALL-IDB2 crops with overlap groups and camera of their source slide (read-only); only
    crops whose source slide is in a ``read`` split are decoded (all without a split file)."""
    from collections import Counter

    root = Path(all_idb)
    paths = sorted((root / "ALL_IDB2" / "img").glob("*.tif"))
    if not paths:
        raise MissingDatasetError(f"{root / 'ALL_IDB2' / 'img'}: no .tif crops")
    with open(root / "allidb2_provenance.csv", newline="") as f:
        src = {r["crop"]: r["source_image"] for r in csv.DictReader(f)}
    with open(root / "allidb1_image_meta.csv", newline="") as f:
        meta = {r["image"]: r for r in csv.DictReader(f)}
    split_of = read_splits(root)
    all_splits = [split_of.get(src.get(p.stem, ""), "") for p in paths]
    keep = [i for i, s in enumerate(all_splits) if wanted(s, bool(split_of), read)]
    paths = [paths[i] for i in keep]
    groups, cams = [], []
    for p in paths:
        m = meta.get(src.get(p.stem, ""), {})
        groups.append(f"g{m['group_id']}" if m else p.stem)
        cams.append(m.get("camera", "unknown").split(" ")[0])
    return Items(
        [read_image(p)[..., :3] for p in paths],
        np.array([image_label(p.stem) for p in paths]),
        groups,
        cams,
        splits=[all_splits[i] for i in keep],
        split_counts=dict(Counter(all_splits)),
    )


def dev_and_test(items: Items, test_split: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(indices of dev items, indices of the ``test_split`` items; empty when not asked)."""
    sp = items.splits or [""] * len(items)
    if not any(sp):
        return np.arange(len(items)), np.array([], dtype=int)
    dev = np.array([i for i, s in enumerate(sp) if s in DEV_SPLITS], dtype=int)
    test = np.array([i for i, s in enumerate(sp) if test_split and s == test_split], dtype=int)
    return dev, test


def schemes(
    items: Items, seed: int = 0, dev: np.ndarray | None = None, test: np.ndarray | None = None
) -> dict[str, tuple[np.ndarray, list[Fold]]]:
    """``name -> (item indices, folds over those indices)``; CV only over ``dev`` (default all);
    ``test``: the ``test`` scheme fits on every dev item and scores these once."""
    idx = np.arange(len(items)) if dev is None else np.asarray(dev)
    y = items.labels[idx]
    groups = [items.groups[i] for i in idx]
    out = {
        "random": (idx, random_kfold(y, K, seed=seed)),
        "grouped": (idx, grouped_stratified_kfold(y, groups, K, seed=seed)),
    }
    canon = np.array([i for i in idx if items.cameras[i].lower() == "canon"])
    if len(canon) and len(set(items.labels[canon])) == 2:
        out["canon"] = (
            canon,
            grouped_stratified_kfold(items.labels[canon], [items.groups[i] for i in canon], K, seed=seed),
        )
    if items.dev_split and {"train", "val"} <= {items.dev_split[i] for i in idx}:
        tr = np.array([k for k, i in enumerate(idx) if items.dev_split[i] == "train"])
        te = np.array([k for k, i in enumerate(idx) if items.dev_split[i] == "val"])
        out["dev"] = (idx, [(tr, te)])
    if test is not None and len(test):
        both = np.concatenate([idx, test])
        out["test"] = (both, [(np.arange(len(idx)), np.arange(len(idx), len(both)))])
    return out


def oof(
    fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray], sub: np.ndarray, folds: list[Fold], n: int
) -> tuple[np.ndarray, np.ndarray]:
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
            y[canon], proba[canon], names, positive=1, n_boot=0
        ).balanced_accuracy.to_dict()["value"]
    return out


def sklearn_fit_predict(X: np.ndarray, y: np.ndarray, make: Callable[[], Any]):
    def fp(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        if len(set(y[tr])) < 2:
            return np.full(len(te), float(y[tr][0]))
        est = make().fit(X[tr], y[tr])
        return est.predict_proba(X[te])[:, list(est.classes_).index(1)]

    return fp


def torch_fit_predict(items: Items, net: str, size: int, epochs: int, seed: int, pretrained: bool | str = False):
    """Fine-tune ``net`` in every fold; ``pretrained``: False (random init) or a blood backbone."""

    def fp(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        import torch

        torch.manual_seed(seed)
        clf = _torch_builder(net)(num_classes=2, pretrained=pretrained, imgsz=size)
        clf.fit(
            [items.images[i] for i in tr], items.labels[tr], FitCfg(epochs=epochs, batch=16, seed=seed, device="cpu")
        )
        return clf.predict_proba([items.images[i] for i in te])[:, 1]

    return fp


def run_row(
    items: Items,
    fit_predict,
    n_boot: int,
    seed: int,
    only: tuple[str, ...] = (),
    *,
    fold_seeds: int = 1,
    dev: np.ndarray | None = None,
    test: np.ndarray | None = None,
) -> dict:
    """Every scheme; those of :data:`REPEATED` once per fold seed (``seed, seed + 1, ...``):
    the first seed's figures with their CI plus ``repeats`` (mean, min, max per metric)."""
    out: dict = {}
    seeds = fold_seed_list(seed, fold_seeds)
    for r, s in enumerate(seeds):
        for name, (sub, folds) in schemes(items, s, dev, test if r == 0 else None).items():
            if (only and name not in only) or (r > 0 and name not in REPEATED):
                continue
            t0 = time.time()
            idx, p = oof(fit_predict, sub, folds, len(items))
            m = metrics(items.labels[idx], p, [items.cameras[i] for i in idx], n_boot if r == 0 else 0)
            if r == 0:
                out[name] = {**m, "seconds": round(time.time() - t0, 1), "_per_seed": [m]}
            else:
                out[name]["_per_seed"].append(m)
                out[name]["seconds"] = round(out[name]["seconds"] + time.time() - t0, 1)
    for name, res in out.items():
        per = res.pop("_per_seed")
        if name in REPEATED:
            res["repeats"] = summarize(per, seeds[: len(per)], ("accuracy", "balanced_accuracy", "auc"))
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
