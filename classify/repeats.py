"""Repeated grouped cross-validation: the same CV under several fold seeds, and its spread.

With ~55 slide groups one fold assignment is one draw: a single grouped-CV figure can move
by 10+ points when only the fold seed changes. Every figure chosen or reported from CV is
therefore given with its mean and range over ``fold_seeds`` fold assignments (seeds
``seed, seed + 1, ...``); the model's own seed stays fixed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

METRICS = ("balanced_accuracy", "accuracy", "sensitivity", "specificity", "auc")


def fold_seed_list(seed: int, n: int) -> list[int]:
    """``n`` fold seeds starting at ``seed`` (n >= 1)."""
    return [int(seed) + r for r in range(max(1, int(n)))]


def spread(values: Sequence[float | None]) -> dict:
    """``{"mean", "min", "max", "per_seed"}`` of the finite values (None when there are none)."""
    vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    ok = np.array([v for v in vals if v is not None], dtype=float)
    if not len(ok):
        return {"mean": None, "min": None, "max": None, "per_seed": vals}
    return {"mean": float(ok.mean()), "min": float(ok.min()), "max": float(ok.max()), "per_seed": vals}


def summarize(per_seed: Sequence[dict], seeds: Sequence[int], metrics: Sequence[str] = METRICS) -> dict:
    """Per-metric spread over fold seeds from per-seed report dicts (``{m: {"value": v}}``)."""
    out: dict = {"fold_seeds": list(seeds)}
    for m in metrics:
        vals = [(r.get(m) or {}).get("value") if isinstance(r.get(m), dict) else r.get(m) for r in per_seed]
        out[m] = spread(vals)
    return out


def fmt_spread(s: dict | None, digits: int = 3) -> str:
    """``"0.812 (0.780-0.850)"``: mean (min-max) over fold seeds, or ``"n/a"``."""
    if not s or s.get("mean") is None:
        return "n/a"
    return f"{s['mean']:.{digits}f} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"
