"""Clinical classification metrics with 95% confidence intervals (pure functions).

Conventions
-----------
- ``y_true``: int array ``(N,)`` of class indices; ``proba``: float array ``(N, C)``
  (rows sum to 1). Binary metrics treat class ``positive`` (default 1, "blast") as the
  positive class and predict positive when ``proba[:, positive] >= threshold``.
- Proportions (sensitivity, specificity, precision, accuracy) get **Wilson score**
  intervals. AUC gets a **DeLong** interval (normal approximation on the DeLong
  variance, clipped to [0, 1]). F1 and balanced accuracy get **percentile bootstrap**
  intervals (class-stratified resampling, ``n_boot`` draws, fixed seed).
- Degenerate cases never raise: a metric whose denominator is zero is ``NaN`` with a
  ``(NaN, NaN)`` interval -- sensitivity without positives, specificity without
  negatives, precision without predicted positives, AUC unless both classes are present,
  F1 = 2TP / (2TP + FP + FN) when that denominator is 0, balanced accuracy when
  sensitivity or specificity is undefined. ``to_dict()`` writes NaN as ``None``.
- ECE: expected calibration error of the top-class confidence, ``n_bins`` equal-width
  bins, weighted by bin count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a 95% interval (``NaN`` when undefined)."""

    value: float
    lo: float = math.nan
    hi: float = math.nan
    method: str = ""

    def to_dict(self) -> dict:
        return {"value": _nan_none(self.value), "ci95": [_nan_none(self.lo), _nan_none(self.hi)], "method": self.method}

    def fmt(self, digits: int = 3) -> str:
        if math.isnan(self.value):
            return "n/a"
        if math.isnan(self.lo):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def _nan_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


NAN = Estimate(math.nan, method="undefined")


def wilson(k: int, n: int, z: float = Z95) -> Estimate:
    """Proportion ``k / n`` with its 95% Wilson score interval
    (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``); ``n == 0`` -> NaN."""
    if n <= 0:
        return NAN
    if z != Z95:
        raise ValueError("wilson: only the 95% interval is provided")
    from scipy.stats import binomtest  # heavy: scipy.stats, ~1 s to import

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return Estimate(k / n, max(0.0, float(ci.low)), min(1.0, float(ci.high)), "wilson")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` int matrix, rows = true class, columns = predicted class (scikit-learn's)."""
    from sklearn.metrics import confusion_matrix as sk_cm  # heavy: sklearn

    if len(y_true) == 0:  # scikit-learn refuses empty input; an empty matrix is the honest answer
        return np.zeros((num_classes, num_classes), dtype=int)
    return sk_cm(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int), labels=np.arange(num_classes)).astype(
        int
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _f1_bal(tp, fp, tn, fn):
    """Vectorised F1 and balanced accuracy from count arrays (NaN where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        sens = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
    return f1, (sens + spec) / 2


def _bootstrap(t: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-stratified bootstrap of (F1, balanced accuracy); arrays ``(n_boot,)``."""
    rng = np.random.default_rng(seed)
    counts = {}
    for cls in (0, 1):
        pred = p[t == cls]
        if len(pred) == 0:
            counts[cls] = np.zeros(n_boot)
            continue
        idx = rng.integers(0, len(pred), size=(n_boot, len(pred)))
        counts[cls] = pred[idx].sum(axis=1)  # predicted positives among resampled class
    n_pos, n_neg = int((t == 1).sum()), int((t == 0).sum())
    tp, fp = counts[1], counts[0]
    return _f1_bal(tp, fp, n_neg - fp, n_pos - tp)


def _pct(samples: np.ndarray, value: float, method: str) -> Estimate:
    if math.isnan(value):
        return NAN
    s = samples[~np.isnan(samples)]
    if len(s) == 0:
        return Estimate(value, method=method)
    return Estimate(value, float(np.quantile(s, 0.025)), float(np.quantile(s, 0.975)), method)


def auc_delong(y_true: np.ndarray, score: np.ndarray) -> Estimate:
    """ROC AUC (Mann-Whitney) with a DeLong 95% interval; NaN unless both classes occur."""
    y_true = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=float)
    pos, neg = score[y_true], score[~y_true]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return NAN
    cmp = (pos[:, None] > neg[None, :]).astype(float) + 0.5 * (pos[:, None] == neg[None, :])
    auc = float(cmp.mean())
    v10, v01 = cmp.mean(axis=1), cmp.mean(axis=0)  # structural components
    var = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (np.var(v01, ddof=1) / n if n > 1 else 0.0)
    half = Z95 * math.sqrt(max(var, 0.0))
    return Estimate(auc, max(0.0, auc - half), min(1.0, auc + half), "delong")


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """ECE of the top-class confidence over ``n_bins`` equal-width bins; NaN for N = 0."""
    proba = np.asarray(proba, dtype=float)
    y_true = np.asarray(y_true, dtype=int)
    if len(y_true) == 0:
        return math.nan
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def _predicted(proba: np.ndarray, p: np.ndarray, positive: int) -> np.ndarray:
    """Class predictions consistent with the threshold: positive where ``p``, else best other."""
    other = proba.copy()
    if other.shape[1] > positive:
        other[:, positive] = -np.inf
    return np.where(p == 1, positive, other.argmax(axis=1)) if len(p) else np.zeros(0, int)


@dataclass(frozen=True)
class BinaryReport:
    """Binary screening metrics of one evaluation (positive = ``positive_name``)."""

    sensitivity: Estimate
    specificity: Estimate
    precision: Estimate
    accuracy: Estimate
    f1: Estimate
    auc: Estimate
    balanced_accuracy: Estimate
    ece: float
    confusion: np.ndarray  # (C, C), rows = truth
    class_names: tuple[str, ...]
    positive_name: str
    n: int
    extra: dict = field(default_factory=dict)

    METRICS = ("sensitivity", "specificity", "precision", "accuracy", "f1", "auc", "balanced_accuracy")

    def to_dict(self) -> dict:
        out = {k: getattr(self, k).to_dict() for k in self.METRICS}
        out.update(
            ece=_nan_none(self.ece),
            confusion_matrix=self.confusion.tolist(),
            class_names=list(self.class_names),
            positive=self.positive_name,
            n=self.n,
        )
        out.update(self.extra)
        return out


def binary_report(
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: tuple[str, ...] | list[str] = ("normal", "blast"),
    *,
    positive: int = 1,
    threshold: float = 0.5,
    n_boot: int = 2000,
    seed: int = 0,
    n_bins: int = 10,
) -> BinaryReport:
    """All metrics for ``y_true`` ``(N,)`` and ``proba`` ``(N, C)``; class ``positive`` vs rest."""
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    proba = proba.reshape(len(y_true), -1) if proba.size else np.zeros((len(y_true), len(class_names)))
    score = proba[:, positive] if proba.shape[1] > positive else np.zeros(len(y_true))
    t = (y_true == positive).astype(int)
    p = (score >= threshold).astype(int)
    tp, fp = int((t & p).sum()), int(((1 - t) & p).sum())
    tn, fn = int(((1 - t) & (1 - p)).sum()), int((t & (1 - p)).sum())
    f1, bal = (float(x) for x in _f1_bal(np.array(tp), np.array(fp), np.array(tn), np.array(fn)))
    bf1, bbal = _bootstrap(t, p, n_boot, seed) if len(t) else (np.array([]), np.array([]))
    num_classes = max(proba.shape[1], len(class_names))
    return BinaryReport(
        sensitivity=wilson(tp, tp + fn),
        specificity=wilson(tn, tn + fp),
        precision=wilson(tp, tp + fp),
        accuracy=wilson(tp + tn, len(t)),
        f1=_pct(bf1, f1, "bootstrap"),
        auc=auc_delong(t, score),
        balanced_accuracy=_pct(bbal, bal, "bootstrap"),
        ece=expected_calibration_error(y_true, proba, n_bins),
        confusion=confusion_matrix(y_true, _predicted(proba, p, positive), num_classes),
        class_names=tuple(class_names),
        positive_name=str(class_names[positive]) if positive < len(class_names) else str(positive),
        n=len(t),
    )


@dataclass(frozen=True)
class MulticlassReport:
    """Accuracy, balanced accuracy and per-class recall (Wilson CIs, n) of a C-class prediction."""

    accuracy: Estimate
    balanced_accuracy: float
    recall: dict[str, Estimate]
    support: dict[str, int]
    confusion: np.ndarray  # (C, C): rows true class, columns predicted
    class_names: tuple[str, ...]
    n: int

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": self.accuracy.to_dict(),
            "balanced_accuracy": _nan_none(self.balanced_accuracy),
            "recall": {k: {**v.to_dict(), "n": self.support[k]} for k, v in self.recall.items()},
            "confusion": self.confusion.tolist(),
            "class_names": list(self.class_names),
        }


def multiclass_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] | list[str]
) -> MulticlassReport:
    """``y_true``, ``y_pred``: int class ids ``(N,)``; recall per class over that class's items."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    names = tuple(class_names)
    cm = confusion_matrix(y_true, y_pred, len(names))
    recall = {n: wilson(int(cm[k, k]), int(cm[k].sum())) for k, n in enumerate(names)}
    present = [r.value for r in recall.values() if not math.isnan(r.value)]
    return MulticlassReport(
        accuracy=wilson(int(np.trace(cm)), int(cm.sum())),
        balanced_accuracy=float(np.mean(present)) if present else math.nan,
        recall=recall,
        support={n: int(cm[k].sum()) for k, n in enumerate(names)},
        confusion=cm,
        class_names=names,
        n=int(len(y_true)),
    )
