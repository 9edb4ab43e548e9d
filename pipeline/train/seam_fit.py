"""Fitting the seam honestly: out-of-fold scores, a stacked fusion, operating points by
grouped cross-validation on training slides only.

All functions take per-cell arrays from a cells folder (:mod:`leukoscan.pipeline.train.cells`) whose
slides are *training* slides; nothing here reads a validation or test slide.

- :func:`slide_folds`: slides -> K folds, overlap groups kept whole, stratified by
  label x camera (so each fold sees both cameras and both slide labels).
- :func:`oof_classifier`: per-cell ``P(blast)`` from a classifier that never saw the cell's
  slide group (fitted on ``blast``/``normal`` cells of the other folds).
- :func:`oof_fusion`: per-cell fused probabilities from fusion models fitted on other folds.
- :func:`choose_operating_point`: the detector-score floor, reject threshold and blast
  threshold minimising ``blast % MAE / 100 + (1 - cell blast F1)`` over the out-of-fold
  predictions of the training slides.
- :func:`choose_over_seeds`: the same on the pooled out-of-fold predictions of several fold
  assignments (fold seeds), with the spread: each seed's own choice and the pooled choice's
  scores per seed (one fold assignment of ~50 slide groups is one draw).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leukoscan.classify.cv import grouped_stratified_kfold
from leukoscan.classify.repeats import spread as _spread
from leukoscan.errors import DataError
from leukoscan.pipeline.infer.seam import Fusion, decide

CONF_GRID = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
REJECT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)  # 1.01 = no reject option
BLAST_GRID = tuple(round(v, 2) for v in np.arange(0.1, 0.91, 0.05))


def slide_folds(
    slides: Sequence[str], groups: Sequence[str], strata: Sequence[str], k: int, *, seed: int = 0
) -> dict[str, int]:
    """``{slide: fold}``; a group never spans two folds; strata balanced as far as groups allow
    (:func:`leukoscan.classify.cv.grouped_stratified_kfold`)."""
    if len(set(groups)) < k:
        raise DataError(f"{len(set(groups))} slide groups cannot make {k} folds")
    y = np.unique(np.asarray(strata), return_inverse=True)[1]
    folds = grouped_stratified_kfold(y, list(groups), k, seed=seed)
    return {slides[i]: f for f, (_, te) in enumerate(folds) for i in te}


def oof_classifier(
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    fold: np.ndarray,
    factory: Callable[[], Any],
    *,
    fit_cfg: Any = None,
    shared: dict | None = None,
) -> np.ndarray:
    """Out-of-fold ``P(blast)`` ``(N,)``; ``labels`` in ``blast``/``normal``/``none``.

    For fold f a classifier from ``factory()`` (class names ``("blast", "normal")``) is
    fitted on the blast/normal cells outside f and predicts every cell in f, ``none`` too.
    ``shared``: a dict kept across calls (fold seeds) so a deterministic feature extractor
    computes each crop once.
    """
    labels = np.asarray(labels, dtype=object)
    p = np.full(len(images), np.nan)
    holder = shared if shared is not None else {}
    shared = holder.get("ext")  # deterministic feature extractors compute each crop once across folds
    for f in np.unique(fold):
        tr = np.flatnonzero((fold != f) & (labels != "none"))
        te = np.flatnonzero(fold == f)
        if len(te) == 0:
            continue
        y = (labels[tr] != "blast").astype(int)  # 0 = blast, 1 = normal
        if len(np.unique(y)) < 2:
            raise DataError(f"fold {f}: training cells hold only one class")
        clf = factory()
        if hasattr(clf, "extractor") and hasattr(clf.extractor, "enable_cache"):
            if shared is None:
                shared = holder["ext"] = clf.extractor
                shared.enable_cache()
            clf.extractor = shared
        if fit_cfg is not None:
            clf.fit([images[i] for i in tr], y, fit_cfg)
        else:
            clf.fit([images[i] for i in tr], y)
        p[te] = clf.predict_proba([images[i] for i in te])[:, list(clf.class_names).index("blast")]
    return p


def oof_fusion(x: np.ndarray, labels: np.ndarray, fold: np.ndarray, *, use: tuple[str, ...]) -> np.ndarray:
    """Out-of-fold fused probabilities ``(N, 3)`` (fusion fitted on the other folds)."""
    p = np.zeros((len(x), 3))
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        p[te] = Fusion(use=use).fit(x[tr], labels[tr]).proba(x[te])
    return p


@dataclass(frozen=True)
class SlideTruth:
    """Annotated counts of one slide (all centroids, not only the detected ones)."""

    blasts: int
    leukocytes: int  # non-blast leukocytes

    @property
    def blast_pct(self) -> float:
        n = self.blasts + self.leukocytes
        return 100.0 * self.blasts / n if n else 0.0


def score_calls(
    kept: np.ndarray, blast: np.ndarray, labels: np.ndarray, slide: np.ndarray, truth: dict[str, SlideTruth]
) -> dict[str, float]:
    """Cell blast recall/precision/F1 (vs all blast centroids) and blast % MAE over slides."""
    labels = np.asarray(labels, dtype=object)
    hits = int(np.sum(blast & (labels == "blast")))
    n_true = sum(t.blasts for t in truth.values())
    n_called = int(blast.sum())
    rec = hits / n_true if n_true else 1.0
    prec = hits / n_called if n_called else 1.0
    f1 = 2 * rec * prec / (rec + prec) if rec + prec else 0.0
    errs = []
    for s, t in truth.items():
        m = slide == s
        n_kept = int(kept[m].sum())
        pct = 100.0 * blast[m].sum() / n_kept if n_kept else 0.0
        errs.append(abs(pct - t.blast_pct))
    return {"recall": rec, "precision": prec, "f1": f1, "blast_pct_mae": float(np.mean(errs))}


def choose_operating_point(
    p: np.ndarray, det_conf: np.ndarray, labels: np.ndarray, slide: np.ndarray, truth: dict[str, SlideTruth]
) -> dict[str, Any]:
    """Grid search (:data:`CONF_GRID` x :data:`REJECT_GRID` x :data:`BLAST_GRID`) on
    out-of-fold probabilities; ties go to the first grid point (lowest values)."""
    best: dict[str, Any] | None = None
    for conf in CONF_GRID:
        for rej in REJECT_GRID:
            for bl in BLAST_GRID:
                kept, blast = decide(p, det_conf, conf=conf, reject=rej, blast=bl)
                s = score_calls(kept, blast, labels, slide, truth)
                obj = s["blast_pct_mae"] / 100 + (1 - s["f1"])
                if best is None or obj < best["objective"] - 1e-12:
                    best = {"conf": conf, "reject": rej, "blast": bl, "objective": obj, **s}
    assert best is not None
    return best


def choose_over_seeds(
    p_by_seed: Sequence[np.ndarray],
    det_conf: np.ndarray,
    labels: np.ndarray,
    slide: np.ndarray,
    truth: dict[str, SlideTruth],
    *,
    spread: bool = True,
) -> dict[str, Any]:
    """The operating point chosen on the pooled out-of-fold predictions of every fold seed
    (each seed's copy of a slide counts as its own slide), plus with ``spread``: each seed's
    own choice and the pooled choice's scores on each seed (mean, min, max)."""
    n = len(p_by_seed)
    pooled_truth = {f"{r}:{s}": t for r in range(n) for s, t in truth.items()}
    pooled_slide = np.concatenate([np.array([f"{r}:{s}" for s in slide], dtype=object) for r in range(n)])
    best = choose_operating_point(
        np.concatenate(list(p_by_seed)),
        np.tile(det_conf, n),
        np.tile(np.asarray(labels, dtype=object), n),
        pooled_slide,
        pooled_truth,
    )
    best["n_fold_seeds"] = n
    if not spread:
        return best
    own = [choose_operating_point(p, det_conf, labels, slide, truth) for p in p_by_seed]
    at_best = []
    for p in p_by_seed:
        kept, blast = decide(p, det_conf, conf=best["conf"], reject=best["reject"], blast=best["blast"])
        at_best.append(score_calls(kept, blast, labels, slide, truth))
    best["spread"] = {
        "chosen_per_seed": [
            {k: o[k] for k in ("conf", "reject", "blast", "objective", "blast_pct_mae", "f1")} for o in own
        ],
        "pooled_choice_per_seed": {
            k: _spread([s[k] for s in at_best]) for k in ("blast_pct_mae", "f1", "recall", "precision")
        },
        "blast_threshold_per_seed": _spread([o["blast"] for o in own]),
    }
    return best
