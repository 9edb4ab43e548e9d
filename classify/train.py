"""Train / cross-validate one classifier and write a run folder.

``run_training(cfg)`` writes ``runs/classify/<name>/``:

- ``config.yaml``  the resolved :class:`TrainConfig`
- ``metrics.json`` cross-validated (or held-out) metrics with 95% CIs, per-fold figures,
  timings (see :mod:`leukoscan.classify.metrics` for the CI methods)
- ``predictions.csv`` out-of-fold probabilities per crop (file, label, group, fold, p_<class>)
- ``model.pt`` (torch) or ``model.skops`` (scikit-learn pipeline, skops format), fitted on all training data
- ``wandb/`` when ``wandb: true`` (``WANDB_MODE=offline`` works without network)

Splits are law (:mod:`leukoscan.data.fit_splits`): only the items of ``fit_splits``
(default ``train``) are read for fitting; a ``test`` split is never read. With ``folds >= 2``:
k-fold CV inside the fit splits (``split: grouped`` by ``group_by``, or ``random``), repeated
over ``fold_seeds`` fold assignments (mean and range reported, see
:mod:`leukoscan.classify.repeats`), then a final fit on the fit splits. With ``folds < 2``:
fit on the fit splits, score ``score_split`` (default ``val``) when present. Console,
``metrics.json`` and ``predictions.csv`` name the splits fitted and scored.

Two classes, or ``positive`` among the classes: the binary clinical report
(:func:`~leukoscan.classify.metrics.binary_report`). More classes without ``positive``
(a cell-type classifier, e.g. ``--data pbc_crops``): the multiclass report (accuracy,
balanced accuracy, per-class recall with Wilson CIs, confusion). With several datasets
(``--data pbc_crops+bccd_types``) the held-out splits are also scored per dataset.
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
from leukoscan.classify.metrics import binary_report, multiclass_report
from leukoscan.classify.model import FitCfg
from leukoscan.classify.models import load_backbone
from leukoscan.classify.records import COLUMNS, training_logger, write_records
from leukoscan.classify.registry import CLASSIFIERS, build
from leukoscan.classify.repeats import fold_seed_list, summarize
from leukoscan.config import save_config, to_dict
from leukoscan.data.checks import check_cells
from leukoscan.data.fit_splits import FitPlan, check_fit_splits, plan_fit, score_split_ok
from leukoscan.device import set_cpu_threads
from leukoscan.encode import csv_row
from leukoscan.errors import ConfigError
from leukoscan.io import atomic_path, atomic_write_json
from leukoscan.runlog import RunLog, start_wandb
from leukoscan.runs import RunDir
from leukoscan.verdict import classifier_verdict_from_metrics


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
    fold_seeds: int = 5  # CV repeated over this many fold assignments (seeds fit.seed, fit.seed + 1, ...)
    fit_splits: tuple[str, ...] = ("train",)  # never "test"; add "val" explicitly
    score_split: str = "val"  # folds < 2: the split scored after the fit ("" = none)
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

    def __post_init__(self) -> None:
        if self.imgsz is not None and not MIN_IMGSZ <= self.imgsz <= MAX_IMGSZ:
            raise ConfigError(f"imgsz must be {MIN_IMGSZ}-{MAX_IMGSZ} pixels (crop side) or unset, got {self.imgsz}")


#: Classifier input side (pixels): a crop is resized to imgsz x imgsz.
MIN_IMGSZ, MAX_IMGSZ = 16, 2048


@dataclass
class CVResult:
    proba: np.ndarray  # (N, C) out-of-fold probabilities
    fold: np.ndarray  # (N,) fold index of each item
    report: Any  # leukoscan.classify.metrics.BinaryReport on the pooled out-of-fold predictions
    fold_bal_acc: list[float]
    seconds: float
    subgroups: dict[str, Any] = field(default_factory=dict)
    cells: CellSet | None = None  # the items cross-validated (the fit splits only)
    plan: FitPlan | None = None
    repeats: dict = field(default_factory=dict)  # spread over fold seeds, see classify.repeats.summarize

    def to_dict(self) -> dict:
        ba = np.array(self.fold_bal_acc, dtype=float)
        return {
            **self.report.to_dict(),
            "fold_balanced_accuracy": [None if np.isnan(x) else x for x in ba],
            "fold_balanced_accuracy_mean": float(np.nanmean(ba)) if len(ba) else None,
            "fold_balanced_accuracy_sd": float(np.nanstd(ba, ddof=1)) if len(ba) > 1 else None,
            "seconds": round(self.seconds, 1),
            "subgroups": {k: v.to_dict() for k, v in self.subgroups.items()},
            "repeats": self.repeats,
            **({"splits": self.plan.to_dict()} if self.plan else {}),
        }


def positive_index(class_names: tuple[str, ...], positive: str) -> int:
    if positive in class_names:
        return class_names.index(positive)
    if len(class_names) == 2:
        return 1
    raise ConfigError(f"positive: class {positive!r} not in {class_names}")


def binary_task(class_names: tuple[str, ...], positive: str) -> bool:
    """Scored as a binary task (``positive`` is a class, or there are two classes)."""
    return positive in class_names or len(class_names) == 2


def score(labels: np.ndarray, proba: np.ndarray, class_names: tuple[str, ...], positive: str, n_boot: int) -> Any:
    """Binary report for a binary task, else the multiclass report of the argmax calls."""
    if binary_task(class_names, positive):
        return binary_report(labels, proba, class_names, positive=positive_index(class_names, positive), n_boot=n_boot)
    return multiclass_report(labels, np.asarray(proba).argmax(1), class_names)


def _bal_acc_dict(rep: dict) -> float | None:
    """Balanced accuracy from a report's ``to_dict()`` (binary: ``{"value": ...}``; multiclass: a float)."""
    ba = rep.get("balanced_accuracy")
    return ba.get("value") if isinstance(ba, dict) else ba


def _bal_acc(report: Any) -> float:
    ba = report.balanced_accuracy
    return float(getattr(ba, "value", ba))


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
    return (
        CLASSIFIERS.entry(cfg.model).meta["features"],
        cfg.imgsz,
        cfg.steps,
        cfg.pretrained,
        cfg.backbone_weights,
        cfg.fit.seed,
    )


def cross_validate(
    cfg: TrainConfig, cells: CellSet, *, log=None, model_factory=None, feature_store: dict | None = None
) -> CVResult:
    """k-fold CV of ``cfg.model`` on the ``cfg.fit_splits`` items of ``cells``, repeated over
    ``cfg.fold_seeds`` fold assignments.

    ``report``, ``proba`` and ``fold`` are those of the first fold seed (pooled out-of-fold
    predictions); ``repeats`` holds every seed's figures and their mean and range.
    ``feature_store``: optional dict shared between calls so that feature-based models with
    the same :func:`feature_key` (e.g. ``resnet18+svm`` and ``resnet18+rf``) reuse features.
    """
    plan = plan_fit(cells.splits, cfg.fit_splits, all_counts=cells.split_counts)
    if len(plan.fit) < len(cells):  # CV runs inside the fit splits, nothing else is seen
        cells = cells.subset(plan.fit)
    groups = cv_groups(cells, cfg.group_by, cfg.data_root) if cfg.split == "grouped" else None
    factory = model_factory or (lambda: build_for(cfg, cells.class_names))
    shared: dict[str, Any] = {}
    t0, runs = time.time(), []
    seeds = fold_seed_list(cfg.fit.seed, cfg.fold_seeds)
    for r, seed in enumerate(seeds):
        folds = make_folds(cells.labels, groups, cfg.folds, split=cfg.split, seed=seed)
        runs.append(_cv_once(cfg, cells, folds, factory, shared, feature_store, log if r == 0 else None))
    proba, fold_of, fold_ba = runs[0]
    report = score(cells.labels, proba, cells.class_names, cfg.positive, cfg.n_boot)
    per_seed = [score(cells.labels, p, cells.class_names, cfg.positive, 0).to_dict() for p, _, _ in runs]
    res = CVResult(
        proba, fold_of, report, fold_ba, time.time() - t0, cells=cells, plan=plan, repeats=summarize(per_seed, seeds)
    )
    if log:
        for seed, rep in zip(seeds, per_seed, strict=True):
            log({"fold": f"seed{seed}", "fold_balanced_accuracy": _bal_acc_dict(rep)})
    for cam in sorted(set(cells.meta.get("camera", []))):
        sel = np.array([c == cam for c in cells.meta["camera"]])
        res.subgroups[f"camera={cam}"] = score(
            cells.labels[sel], proba[sel], cells.class_names, cfg.positive, cfg.n_boot
        )
    return res


def _cv_once(
    cfg: TrainConfig, cells: CellSet, folds, factory, shared: dict, feature_store: dict | None, log
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """One fold assignment -> (out-of-fold proba (N, C), fold of each item, per-fold bal. acc)."""
    proba = np.zeros((len(cells), len(cells.class_names)), dtype=np.float32)
    fold_of = np.full(len(cells), -1)
    fold_ba = []
    from tqdm import tqdm  # progress of a command that otherwise prints nothing for minutes

    for k, (tr, te) in enumerate(
        tqdm(folds, desc=f"{cfg.model}: {cfg.folds}-fold CV", unit="fold", disable=len(folds) < 2)
    ):
        clf = factory()
        if hasattr(clf, "extractor"):  # deterministic features: compute each crop once across folds and seeds
            if "ext" not in shared:
                shared["ext"] = clf.extractor
                store = None if feature_store is None else feature_store.setdefault(feature_key(cfg), {})
                shared["ext"].enable_cache(store)
            clf.extractor = shared["ext"]
        clf.fit(
            [cells.images[i] for i in tr],
            cells.labels[tr],
            cfg.fit,
            log=(lambda row, k=k: log({f"fold{k}/{a}": b for a, b in row.items()})) if log else None,
        )
        proba[te] = clf.predict_proba([cells.images[i] for i in te])
        fold_of[te] = k
        fold_ba.append(_bal_acc(score(cells.labels[te], proba[te], cells.class_names, cfg.positive, 0)))
        if log:
            log({"fold": k, "fold_balanced_accuracy": fold_ba[-1]})
    return proba, fold_of, fold_ba


def write_predictions(path: Path, cells: CellSet, proba: np.ndarray, fold: np.ndarray | None, fitted: str = "") -> None:
    """One row per scored crop; ``split`` is the crop's own split, ``fitted`` the splits the
    model that scored it was fitted on (out-of-fold: the other folds of them)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "group", "split", "fitted_on", "fold", *[f"p_{c}" for c in cells.class_names]])
        for i in range(len(cells)):
            w.writerow(
                csv_row(
                    [
                        cells.files[i],
                        cells.class_names[cells.labels[i]],
                        cells.groups[i],
                        cells.splits[i],
                        fitted,
                        "" if fold is None else int(fold[i]),
                        *[f"{p:.5f}" for p in proba[i]],
                    ]
                )
            )


def _wandb_run(cfg: TrainConfig, run_dir: Path) -> Any:
    if not cfg.wandb:
        return None
    return start_wandb(
        run_dir, project=cfg.wandb_project, name=run_dir.name, config=to_dict(cfg), job_type="classify-train"
    )


def run_training(cfg: TrainConfig, cells: CellSet | None = None, *, log_line=print) -> Path:
    """Train/evaluate per ``cfg`` and write the run folder; returns its path."""
    set_cpu_threads()
    CLASSIFIERS.entry(cfg.model)  # an unknown name fails before the data are read
    fit_splits = check_fit_splits(cfg.fit_splits, "fit_splits")
    score_split = score_split_ok(cfg.score_split, fit_splits) if cfg.folds < 2 else ""
    cells = (
        cells
        if cells is not None
        else resolve_cells(cfg.data, cfg.data_root, splits=(*fit_splits, *([score_split] if score_split else [])))
    )
    plan = plan_fit(cells.splits, fit_splits, all_counts=cells.split_counts)
    fit_cells = cells.subset(plan.fit)
    check_cells([cells.class_names[int(i)] for i in fit_cells.labels], f"{cells.root or cfg.data} ({plan.describe()})")
    if cfg.folds >= 2:  # folds the data cannot fill fail before the run folder exists
        groups = cv_groups(fit_cells, cfg.group_by, cfg.data_root) if cfg.split == "grouped" else None
        make_folds(fit_cells.labels, groups, cfg.folds, split=cfg.split, seed=cfg.fit.seed)
    run_dir = RunDir.new(cfg.project, cfg.name, default=cfg.model.replace("+", "_")).path
    run_dir.mkdir(parents=True)
    cfg = replace(cfg, name=run_dir.name)
    save_config(cfg, RunDir(run_dir).config)
    wb = _wandb_run(cfg, run_dir)
    log = RunLog(run_dir, wb, columns=COLUMNS)
    on_row = training_logger(log)
    log_line(plan.describe())
    fitted = "+".join(fit_splits) if not plan.unsplit_whole else "all"
    evaluated: tuple[Any, Any, Any, str] = (None, None, [], "")  # labels, proba, crops, what
    metrics: dict[str, Any] = {
        "model": cfg.model,
        "data": cfg.data,
        "n": len(fit_cells),
        "class_names": list(cells.class_names),
        "splits": plan.to_dict(),
    }
    if cfg.folds >= 2:
        res = cross_validate(cfg, fit_cells, log=on_row)
        what = (
            f"{cfg.folds}-fold CV inside split {fitted}, split={cfg.split}, group_by={cfg.group_by}, "
            f"{len(res.repeats['fold_seeds'])} fold seeds {res.repeats['fold_seeds']}"
        )
        metrics.update(evaluation=what, scored=f"out-of-fold, split {fitted}", cv=res.to_dict())
        write_predictions(run_dir / "predictions.csv", fit_cells, res.proba, res.fold, fitted)
        evaluated = (fit_cells.labels, res.proba, fit_cells.images, f"out-of-fold, {cfg.folds}-fold CV of {fitted}")
        log_line(f"scored: out-of-fold {what}")
    clf, weights = None, None
    if cfg.final_fit or cfg.folds < 2:
        print(f"{cfg.model}: fitting on {len(fit_cells)} crops (split {fitted})", flush=True)
        clf = build_for(cfg, cells.class_names)
        t0 = time.time()
        clf.fit(fit_cells.images, fit_cells.labels, cfg.fit, log=on_row)
        metrics["final_fit_seconds"] = round(time.time() - t0, 1)
        metrics["final_fit"] = f"split {fitted} ({len(fit_cells)} items)"
        weights = clf.save(run_dir)
        if cfg.folds < 2:
            held, evaluated = _holdout(cfg, cells, clf, score_split, fitted, run_dir)
            metrics.update(held)
            log_line(f"scored: {held.get('scored', 'nothing')}")
    metrics["verdict"] = classifier_verdict_from_metrics(metrics).to_dict()
    atomic_write_json(RunDir(run_dir).metrics, metrics)
    labels, proba, crops, what = evaluated
    pos = positive_index(cells.class_names, cfg.positive) if binary_task(cells.class_names, cfg.positive) else None
    write_records(run_dir, log, cells.class_names, pos, labels, proba, crops, what=what, weights=weights)
    if wb is not None:
        wb.summary.update(_flat(metrics))
        wb.finish()
    return run_dir


def _holdout(
    cfg: TrainConfig, cells: CellSet, clf: Any, score_split: str, fitted: str, run_dir: Path
) -> tuple[dict, tuple]:
    """Metrics on the ``score_split`` split (per source dataset too, for ``a+b`` data) and its
    predictions.csv; (labels, proba, crops, name) for plots."""
    idx = np.array([i for i, s in enumerate(cells.splits) if score_split and s == score_split], dtype=int)
    if not len(idx):
        note = (
            f"no {score_split!r} split to score" if score_split else "no score split asked"
        ) + f": fitted on {fitted}, no metrics"
        return {"scored": note, "note": note}, (None, None, [], "")
    sub = cells.subset(idx)
    proba = clf.predict_proba(sub.images)
    write_predictions(run_dir / "predictions.csv", sub, proba, None, fitted)
    out = {
        "scored": f"split {score_split} ({len(sub)} items), model fitted on split {fitted}",
        "score_split": score_split,
        score_split: score(sub.labels, proba, cells.class_names, cfg.positive, cfg.n_boot).to_dict(),
    }
    for src in sorted(set(sub.meta.get("source", []))):
        sel = np.array([x == src for x in sub.meta["source"]])
        out[f"{score_split}:{src}"] = score(
            sub.labels[sel], proba[sel], cells.class_names, cfg.positive, cfg.n_boot
        ).to_dict()
    return out, (sub.labels, proba, sub.images, f"{score_split} split")


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
