"""One slide's summary and call: leukocyte count, blasts, blast % with its 95% interval, status.

:class:`SlideRules` holds the rules that turn a slide's cells into its answer, once, with
their ranges checked: ``flag_pct`` (``--flag-pct``), ``min_cells`` (``--min-cells``),
``flag_rule`` (``--flag-rule``) and ``uncertain_band`` (``--uncertain-band``); why their
defaults are what they are, and how the interval is made: :mod:`leukoscan.pipeline.report.slide_stats`.

Input is the pipeline's ``supervision.Detections`` with ``data[CELL_CLASS]`` and
``data[BLAST_PROB]`` per cell (:mod:`leukoscan.schema`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.classify.metrics import wilson
from leukoscan.errors import ConfigError
from leukoscan.pipeline.report.slide_stats import (
    CLEAR,
    FLAG,
    FLAG_RULES,
    REVIEW,
    blast_interval,
    slide_status,
    uncertain_mask,
)
from leukoscan.schema import BLAST_PROB, BLAST_THRESHOLD, CELL_CLASS

if TYPE_CHECKING:
    import supervision as sv


@dataclass(frozen=True)
class SlideRules:
    """How a slide is answered (see :mod:`leukoscan.pipeline.report.slide_stats` for the defaults).

    ``flag_pct``: flag the slide (call ALL) when its blast % reaches this (by ``flag_rule``:
    ``lower`` = the 95% lower bound, ``point`` = the point estimate); ``min_cells``: fewer
    leukocytes make the slide "insufficient cells"; ``uncertain_band``: a cell whose P(blast)
    is this close to the call threshold is "uncertain".
    """

    flag_pct: float = 20.0
    min_cells: int = 12
    flag_rule: str = "lower"
    uncertain_band: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 <= self.flag_pct <= 100.0:
            raise ConfigError(f"flag_pct must be in [0, 100] (a percentage), got {self.flag_pct}")
        if self.min_cells < 1:
            raise ConfigError(f"min_cells must be >= 1, got {self.min_cells}")
        if self.flag_rule not in FLAG_RULES:
            raise ConfigError(f"flag_rule must be one of {', '.join(FLAG_RULES)}, not {self.flag_rule!r}")
        if not 0.0 <= self.uncertain_band <= 0.5:
            raise ConfigError(f"uncertain_band must be in [0, 0.5], got {self.uncertain_band}")

    def describe(self) -> str:
        """The rule in words, for reports."""
        how = "its 95% lower bound" if self.flag_rule == "lower" else "its blast % (point estimate)"
        return (
            f'a slide is called only with >= {self.min_cells} leukocytes (else "insufficient cells"); '
            f"FLAG when {how} is >= {self.flag_pct:g}%"
            + ('; "borderline" when only the point estimate is' if self.flag_rule == "lower" else "")
            + f"; a cell is uncertain when |P(blast) - threshold| < {self.uncertain_band:g}"
        )


def plural(n: int, word: str) -> str:
    """``1 leukocyte``, ``2 leukocytes``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class SlideSummary:
    """One slide: leukocyte count, blasts (None: not assessed), blast % with its 95% interval
    (counting and call uncertainty, :mod:`leukoscan.pipeline.report.slide_stats`), the slide call."""

    image: str
    width: int
    height: int
    leukocytes: int
    blasts: int | None
    blast_pct: float | None
    blast_pct_ci95: tuple[float | None, float | None]
    flagged: bool
    flag_pct: float
    call_by: str = ""  # how blasts were called (leukoscan.schema.CALL_METHODS key); "count": not at all
    #: FLAG | borderline | clear | insufficient cells | no leukocytes | not assessed (slide_stats)
    status: str = ""
    uncertain: int | None = None  # cells whose P(blast) is near the call threshold (None: not assessed)
    min_cells: int | None = None
    flag_rule: str = ""

    @property
    def review(self) -> bool:
        """A person should look at this slide before using its numbers."""
        return self.status in REVIEW or bool(self.uncertain)

    def words(self) -> str:
        """``12 leukocytes, 3 blasts, blast 25.0% [9.1, 49.6]  FLAG`` (plural forms; "not assessed")."""
        n = plural(self.leukocytes, "leukocyte")
        if self.blast_pct is None or self.blasts is None:
            return f"{n}, blasts not assessed" if self.leukocytes else f"{n} found  REVIEW"
        lo, hi = self.blast_pct_ci95
        unc = f", {self.uncertain} uncertain" if self.uncertain else ""
        status = {FLAG: "  FLAG", CLEAR: "  clear"}.get(self.status, f"  REVIEW: {self.status}" if self.status else "")
        return f"{n}, {plural(self.blasts, 'blast')}{unc}, blast {self.blast_pct:.1f}% [{lo:.1f}, {hi:.1f}]{status}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blast_pct_ci95"] = list(self.blast_pct_ci95)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SlideSummary:
        """Inverse of :meth:`to_dict` (keys this version does not know are ignored; a manifest
        written before the setting had one name calls ``flag_pct`` ``threshold_pct``)."""
        d = {"flag_pct": d["threshold_pct"], **d} if "threshold_pct" in d else d
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["blast_pct_ci95"] = tuple(known.get("blast_pct_ci95") or (None, None))
        return cls(**known)


def summarize(
    det: sv.Detections,
    *,
    image: str,
    image_hw: tuple[int, int],
    flag_pct: float | None = None,
    rules: SlideRules | None = None,
    blast_class: str = "blast",
    call_by: str = "",
    blast_threshold: float = BLAST_THRESHOLD,
) -> SlideSummary:
    """Slide summary and call under ``rules`` (``flag_pct``, when given, replaces its flag %).
    ``blasts``, ``blast_pct`` and ``uncertain`` are ``None`` when blasts were not assessed
    (``call_by="count"``: a detector without a blast class, no classifier); ``blast_pct`` is
    ``None`` when no leukocyte was found. Only a ``FLAG`` status sets ``flagged``."""
    rules = rules or SlideRules()
    if flag_pct is not None and flag_pct != rules.flag_pct:
        rules = SlideRules(flag_pct, rules.min_cells, rules.flag_rule, rules.uncertain_band)
    n = len(det)
    w, h = int(image_hw[1]), int(image_hw[0])
    if call_by == "count":
        return SlideSummary(
            image,
            w,
            h,
            n,
            None,
            None,
            (None, None),
            False,
            rules.flag_pct,
            call_by,
            slide_status(n, None, None, rules, assessed=False),
            None,
            rules.min_cells,
            rules.flag_rule,
        )
    k = int(np.sum(np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast_class)) if n else 0
    probs = np.asarray(det.data.get(BLAST_PROB, np.full(n, np.nan)), float)
    pct = ci = None
    if n:
        pct = 100.0 * k / n
        if np.isnan(probs).any():  # no probabilities: counting uncertainty only
            est = wilson(k, n)
            lo, hi = 100.0 * est.lo, 100.0 * est.hi
        else:
            lo, hi = (100.0 * v for v in blast_interval(probs))
        ci = (round(min(lo, pct), 2), round(max(hi, pct), 2))
        pct = round(pct, 2)
    status = slide_status(n, pct, ci[0] if ci else None, rules)
    unc = int(uncertain_mask(probs, blast_threshold, rules.uncertain_band).sum())
    return SlideSummary(
        image,
        w,
        h,
        n,
        k,
        pct,
        ci or (None, None),
        status == FLAG,
        rules.flag_pct,
        call_by,
        status,
        unc,
        rules.min_cells,
        rules.flag_rule,
    )


__all__ = ["SlideRules", "SlideSummary", "plural", "summarize"]
