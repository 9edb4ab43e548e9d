"""Train / cross-validate one classifier and write a run folder.

``run_training(cfg)`` writes ``runs/classify/<name>/``:

- ``config.yaml``  the resolved :class:`TrainConfig`
- ``metrics.json`` cross-validated (or held-out) metrics with 95% CIs, per-fold figures,
  timings (see :mod:`leukoscan.classify.metrics` for the CI methods)
- ``predictions.csv`` out-of-fold probabilities per crop (file, label, group, fold, p_<class>)
- ``model.pt`` (torch) or ``model.skops`` (scikit-learn pipeline, skops format), fitted on all training data
- ``wandb/`` when ``wandb: true`` (``WANDB_MODE=offline`` works without network)

With ``folds >= 2``: k-fold CV (``split: grouped`` by ``group_by``, or ``random``), then a
final fit on every crop. With ``folds < 2``: train on the index's ``train`` split and
evaluate on ``val``/``test`` when present, else train on everything without metrics.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.cv import make_folds
from leukoscan.classify.data import CellSet, cv_groups, resolve_cells
from leukoscan.classify.engine import seed_all
from leukoscan.classify.metrics import binary_report
from leukoscan.classify.model import FitCfg
from leukoscan.classify.models import load_backbone
from leukoscan.classify.records import COLUMNS, training_logger, write_records
from leukoscan.classify.registry import CLASSIFIERS, build
from leukoscan.config import save_config, to_dict
from leukoscan.data.checks import check_cells
from leukoscan.device import set_cpu_threads
from leukoscan.errors import ConfigError
from leukoscan.io import atomic_path, atomic_write_json
from leukoscan.runlog import RunLog, start_wandb
from leukoscan.runs import RunDir


@dataclass(frozen=True)
class TrainConfig:
    model: str = "handcrafted+svm"
    data: str = "all_idb2"
    data_root: str | None = None
    imgsz: int | None = None  # None: the model's declared input size
    steps: tuple[str, ...] = ()  # enhancement steps, see leukoscan.classify.preprocess.STEPS
    pretrained: bool | str = True  # True ImageNet (download), False scratch, "pbc" bundled blood backbone, or a file
    backbone_weights: str | None = None  # deep-feature / fine-tune init checkpoint
    folds: int = 5
    split: str = "grouped"  # grouped | random
    group_by: str = "overlap"  # overlap | slide | none
    positive: str = "blast"
    name: str | None = None
    project: str = "runs/classify"
    wandb: bool = False
    wandb_project: str = "leukoscan"  # the same project as detection runs (job_type tells them apart)
    final_fit: bool = True
    n_boot: int = 2000
    fit: FitCfg = field(default_factory=FitCfg)


@dataclass
class CVResult:
    proba: np.ndarray  # (N, C) out-of-fold probabilities
    fold: np.ndarray  # (N,) fold index of each item
    report: Any  # leukoscan.classify.metrics.BinaryReport on the pooled out-of-fold predictions
    fold_bal_acc: list[float]
    seconds: float
    subgroups: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        ba = np.array(self.fold_bal_acc, dtype=float)
        return {**self.report.to_dict(), "fold_balanced_accuracy": [None if np.isnan(x) else x for x in ba],
                "fold_balanced_accuracy_mean": float(np.nanmean(ba)) if len(ba) else None,
                "fold_balanced_accuracy_sd": float(np.nanstd(ba, ddof=1)) if len(ba) > 1 else None,
                "seconds": round(self.seconds, 1),
                "subgroups": {k: v.to_dict() for k, v in self.subgroups.items()}}


def positive_index(class_names: tuple[str, ...], positive: str) -> int:
    if positive in class_names:
        return class_names.index(positive)
    if len(class_names) == 2:
        return 1
    raise ConfigError(f"positive: class {positive!r} not in {class_names}")


def build_for(cfg: TrainConfig, class_names: tuple[str, ...]) -> Any:
    """Build ``cfg.model`` with a seeded RNG, so random initialisation is reproducible."""
    seed_all(cfg.fit.seed)
    kind = CLASSIFIERS.kind_of(cfg.model)
    kw: dict[str, Any] = {"class_names": class_names, "imgsz": cfg.imgsz, "steps": cfg.steps}
    if kind == "sklearn":  # the backbone goes into the feature extractor
        kw.update(backbone_weights=cfg.backbone_weights, seed=cfg.fit.seed)
    clf = build(cfg.model, num_classes=len(class_names), pretrained=cfg.pretrained, **kw)
    if cfg.backbone_weights and kind == "torch":
        load_backbone(clf.net, cfg.backbone_weights)
    return clf


def feature_key(cfg: TrainConfig) -> tuple:
    """Identifies deterministic features: same key -> same features for the same crop."""
    return (CLASSIFIERS.entry(cfg.model).meta["features"], cfg.imgsz, cfg.steps, cfg.pretrained, cfg.backbone_weights, cfg.fit.seed)


def cross_validate(cfg: TrainConfig, cells: CellSet, *, log=None, model_factory=None,
                   feature_store: dict | None = None) -> CVResult:
    """k-fold CV of ``cfg.model`` on ``cells``; metrics on the pooled out-of-fold predictions.

    ``feature_store``: optional dict shared between calls so that feature-based models with
    the same :func:`feature_key` (e.g. ``resnet18+svm`` and ``resnet18+rf``) reuse features.
    """
    groups = cv_groups(cells, cfg.group_by, cfg.data_root) if cfg.split == "grouped" else None
    folds = make_folds(cells.labels, groups, cfg.folds, split=cfg.split, seed=cfg.fit.seed)
    pos = positive_index(cells.class_names, cfg.positive)
    proba = np.zeros((len(cells), len(cells.class_names)), dtype=np.float32)
    fold_of = np.full(len(cells), -1)
    fold_ba, t0 = [], time.time()
    factory = model_factory or (lambda: build_for(cfg, cells.class_names))
    shared = None
    for k, (tr, te) in enumerate(folds):
        clf = factory()
        if hasattr(clf, "extractor"):  # deterministic features: compute each crop once across folds
            if shared is None:
                shared = clf.extractor
                store = None if feature_store is None else feature_store.setdefault(feature_key(cfg), {})
                shared.enable_cache(store)
            clf.extractor = shared
        clf.fit([cells.images[i] for i in tr], cells.labels[tr], cfg.fit,
                log=(lambda row, k=k: log({f"fold{k}/{a}": b for a, b in row.items()})) if log else None)
        proba[te] = clf.predict_proba([cells.images[i] for i in te])
        fold_of[te] = k
        rep = binary_report(cells.labels[te], proba[te], cells.class_names, positive=pos, n_boot=0)
        fold_ba.append(rep.balanced_accuracy.value)
        if log:
            log({"fold": k, "fold_balanced_accuracy": rep.balanced_accuracy.value})
    report = binary_report(cells.labels, proba, cells.class_names, positive=pos, n_boot=cfg.n_boot)
    res = CVResult(proba, fold_of, report, fold_ba, time.time() - t0)
    for cam in sorted(set(cells.meta.get("camera", []))):
        sel = np.array([c == cam for c in cells.meta["camera"]])
        res.subgroups[f"camera={cam}"] = binary_report(cells.labels[sel], proba[sel], cells.class_names,
                                                       positive=pos, n_boot=cfg.n_boot)
    return res


def write_predictions(path: Path, cells: CellSet, proba: np.ndarray, fold: np.ndarray | None) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "group", "fold", *[f"p_{c}" for c in cells.class_names]])
        for i in range(len(cells)):
            w.writerow([cells.files[i], cells.class_names[cells.labels[i]], cells.groups[i],
                        "" if fold is None else int(fold[i]), *[f"{p:.5f}" for p in proba[i]]])


def _wandb_run(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.wandb:
        return None
    return start_wandb(run_dir, project=cfg.wandb_project, name=run_dir.name, config=to_dict(cfg),
                       job_type="classify-train")


def run_training(cfg: TrainConfig, cells: CellSet | None = None) -> Path:
    """Train/evaluate per ``cfg`` and write the run folder; returns its path."""
    set_cpu_threads()
    CLASSIFIERS.entry(cfg.model)  # an unknown name fails before the data are read
    cells = cells if cells is not None else resolve_cells(cfg.data, cfg.data_root)
    check_cells([cells.class_names[int(i)] for i in cells.labels], str(cells.root or cfg.data))
    run_dir = RunDir.new(cfg.project, cfg.name, default=cfg.model.replace("+", "_")).path
    run_dir.mkdir(parents=True)
    cfg = replace(cfg, name=run_dir.name)
    save_config(cfg, RunDir(run_dir).config)
    wb = _wandb_run(cfg, run_dir)
    log = RunLog(run_dir, wb, columns=COLUMNS)
    on_row = training_logger(log)
    evaluated: tuple[Any, Any, Any, str] = (None, None, [], "")  # labels, proba, crops, what
    metrics: dict[str, Any] = {"model": cfg.model, "data": cfg.data, "n": len(cells),
                               "class_names": list(cells.class_names)}
    train_idx = np.arange(len(cells))
    if cfg.folds >= 2:
        res = cross_validate(cfg, cells, log=on_row)
        metrics.update(evaluation=f"{cfg.folds}-fold CV, split={cfg.split}, group_by={cfg.group_by}",
                       cv=res.to_dict())
        write_predictions(run_dir / "predictions.csv", cells, res.proba, res.fold)
        evaluated = (cells.labels, res.proba, cells.images, f"out-of-fold, {cfg.folds}-fold CV")
    else:
        train_idx = np.array([i for i, s in enumerate(cells.splits) if s in ("train", "")])
    clf, weights = None, None
    if cfg.final_fit or cfg.folds < 2:
        clf = build_for(cfg, cells.class_names)
        t0 = time.time()
        clf.fit([cells.images[i] for i in train_idx], cells.labels[train_idx], cfg.fit, log=on_row)
        metrics["final_fit_seconds"] = round(time.time() - t0, 1)
        weights = clf.save(run_dir)
        if cfg.folds < 2:
            held, evaluated = _holdout(cfg, cells, clf)
            metrics.update(held)
    atomic_write_json(RunDir(run_dir).metrics, metrics)
    labels, proba, crops, what = evaluated
    write_records(run_dir, log, cells.class_names, positive_index(cells.class_names, cfg.positive), labels, proba,
                  crops, what=what, weights=weights)
    if wb is not None:
        wb.summary.update(_flat(metrics))
        wb.finish()
    return run_dir


def _holdout(cfg: TrainConfig, cells: CellSet, clf: Any) -> tuple[dict, tuple]:
    """Metrics on val/test; also (labels, proba, crops, name) of the first of them, for plots."""
    out: dict[str, Any] = {}
    first: tuple = (None, None, [], "")
    pos = positive_index(cells.class_names, cfg.positive)
    for split in ("val", "test"):
        idx = np.array([i for i, s in enumerate(cells.splits) if s == split])
        if len(idx):
            sub = cells.subset(idx)
            proba = clf.predict_proba(sub.images)
            out[split] = binary_report(sub.labels, proba, cells.class_names, positive=pos,
                                       n_boot=cfg.n_boot).to_dict()
            if first[0] is None:
                first = (sub.labels, proba, sub.images, f"{split} split")
    if not out:
        out["note"] = "no val/test split and folds < 2: trained on everything, no metrics"
    return out, first


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            if "value" in v:
                out[f"{prefix}{k}"] = v["value"]
            else:
                out.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, int | float | str):
            out[f"{prefix}{k}"] = v
    return out
