"""How far a slide's blast % can be trusted, and the slide call made from it.

- **Interval.** The blast % interval covers both the counting (the cells seen are a sample
  of the smear) and the calls (each cell is a blast only with its probability ``p_i``): the
  number of blasts K is Poisson-binomial over the cells' ``p_i``, and given K the blast
  fraction has the Jeffreys posterior Beta(K + 1/2, n - K + 1/2); the 95% interval is the
  2.5/97.5% quantiles of that mixture. With certain calls (every p_i 0 or 1) it is the
  Jeffreys interval of k of n. The point estimate stays the share of cells called blast
  (the interval is widened to hold it when the call threshold is not 0.5). The ``p_i`` are
  the pipeline's blast probabilities as they are (not recalibrated).
The settings (``flag_pct``, ``min_cells``, ``flag_rule``, ``uncertain_band``) live once, in
:class:`leukoscan.pipeline.report.summary.SlideRules`; the reasons for their defaults here.

- **Minimum cells.** Below ``min_cells`` counted leukocytes the slide is ``insufficient
  cells``: never FLAG, never clear. Default 12: the fewest cells at which a slide with no
  blast call at all has a 95% upper bound below the 20% flag (Jeffreys: 0.200 at 11 cells,
  0.185 at 12), i.e. the fewest at which "clear" can mean anything. On ALL-IDB1 (69 dev
  slides, annotations) every healthy field holds 1-5 leukocytes, so a single ALL-IDB1 field
  of a healthy smear is never enough for a slide call.
- **Flag rule.** ``lower`` (default): FLAG when the lower 95% bound is >= the flag %; a
  slide whose point estimate reaches the flag % but whose lower bound does not is
  ``borderline`` (review it). ``point``: FLAG when the point estimate reaches the flag %
  (the rule before issue 21). Why ``lower``: with the cell false-blast rate measured on
  ALL-IDB1 dev-val (0.089, benchmarks/README.md "The slide answer", row 5) a healthy slide
  of 12-20 cells is flagged by the point rule 8-14% of the time (binomial), by the lower
  bound rule < 0.1%; see benchmarks/README.md "Slide call rule".
- **Uncertain cells.** A cell whose blast probability lies within ``uncertain_band`` of the
  call threshold is counted as ``uncertain`` (the cells table marks it for review).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLAG, BORDERLINE, CLEAR = "FLAG", "borderline", "clear"
INSUFFICIENT, NO_CELLS, NOT_ASSESSED = "insufficient cells", "no leukocytes", "not assessed"
#: Slide statuses a person should look at before using the numbers.
REVIEW = (BORDERLINE, INSUFFICIENT, NO_CELLS)
FLAG_RULES = ("lower", "point")


def poisson_binomial(p: np.ndarray) -> np.ndarray:
    """``P(K = k)`` for k = 0..n, K the number of successes of independent Bernoulli(``p_i``)."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(np.clip(np.asarray(p, float), 0.0, 1.0)):
        pmf[1 : i + 2] = pmf[1 : i + 2] * (1 - pi) + pmf[: i + 1] * pi
        pmf[0] *= 1 - pi
    return pmf


def blast_interval(p: np.ndarray, level: float = 0.95, grid: int = 2001) -> tuple[float, float]:
    """Interval of the blast fraction (0-1) from per-cell blast probabilities ``p`` (n,), n >= 1."""
    from scipy.stats import beta

    n = len(p)
    w = poisson_binomial(p)
    k = np.nonzero(w > 1e-12)[0]
    x = np.linspace(0.0, 1.0, grid)
    cdf = (w[k, None] * beta.cdf(x[None, :], k[:, None] + 0.5, n - k[:, None] + 0.5)).sum(0) / w[k].sum()
    a = (1 - level) / 2
    lo = float(np.interp(a, cdf, x)) if cdf[0] < a else 0.0
    hi = float(np.interp(1 - a, cdf, x))
    return lo, hi


def uncertain_mask(p: np.ndarray, threshold: float, band: float) -> np.ndarray:
    """``(N,)`` bool: blast probability within ``band`` of ``threshold`` (NaN: False)."""
    p = np.asarray(p, float)
    with np.errstate(invalid="ignore"):
        return np.abs(p - threshold) < band


def slide_status(n: int, pct: float | None, lo: float | None, rule: Any, assessed: bool = True) -> str:
    """The slide call: FLAG, borderline, clear, insufficient cells, no leukocytes or not assessed.
    ``rule``: :class:`~leukoscan.pipeline.report.summary.SlideRules` (flag_pct, min_cells, flag_rule)."""
    flag_pct = rule.flag_pct
    if n == 0:
        return NO_CELLS
    if not assessed or pct is None:
        return NOT_ASSESSED
    if n < rule.min_cells:
        return INSUFFICIENT
    if (lo if rule.flag_rule == "lower" else pct) >= flag_pct:
        return FLAG
    return BORDERLINE if pct >= flag_pct else CLEAR


__all__ = [
    "BORDERLINE",
    "CLEAR",
    "FLAG",
    "FLAG_RULES",
    "INSUFFICIENT",
    "NOT_ASSESSED",
    "NO_CELLS",
    "REVIEW",
    "blast_interval",
    "poisson_binomial",
    "slide_status",
    "uncertain_mask",
]
