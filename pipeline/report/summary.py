"""One slide's summary: leukocyte count, blasts, blast % with its 95% Wilson interval, flag.

:class:`SlideRules` holds the rules that turn a slide's cells into its answer (``flag_pct``:
``--flag-pct``), once, with their ranges checked.

Input is the pipeline's ``supervision.Detections`` with ``data[CELL_CLASS]`` per cell
(:mod:`leukoscan.schema`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.classify.metrics import wilson
from leukoscan.errors import ConfigError
from leukoscan.schema import CELL_CLASS

if TYPE_CHECKING:
    import supervision as sv


@dataclass(frozen=True)
class SlideRules:
    """How a slide is answered. ``flag_pct``: flag the slide (call ALL) when its blast % >= this."""

    flag_pct: float = 20.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.flag_pct <= 100.0:
            raise ConfigError(f"flag_pct must be in [0, 100] (a percentage), got {self.flag_pct}")


@dataclass(frozen=True)
class SlideSummary:
    """One slide: leukocyte count, blasts, blast fraction with its 95% Wilson interval."""

    image: str
    width: int
    height: int
    leukocytes: int
    blasts: int
    blast_pct: float | None
    blast_pct_ci95: tuple[float | None, float | None]
    flagged: bool
    flag_pct: float
    call_by: str = ""  # how blasts were called (leukoscan.schema.CALL_METHODS key); "count": not at all

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


def summarize(det: sv.Detections, *, image: str, image_hw: tuple[int, int], flag_pct: float,
              blast_class: str = "blast", call_by: str = "") -> SlideSummary:
    """Slide summary; ``blast_pct`` is ``None`` when no leukocyte was found or blasts were not
    assessed (``call_by="count"``: a detector without a blast class, no classifier); the flag
    then stays False."""
    n = len(det)
    if call_by == "count":
        return SlideSummary(image, int(image_hw[1]), int(image_hw[0]), n, 0, None, (None, None), False,
                            flag_pct, call_by)
    k = int(np.sum(np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast_class)) if n else 0
    est = wilson(k, n)
    pct = None if n == 0 else round(100.0 * est.value, 2)
    ci = (None, None) if n == 0 else (round(100.0 * est.lo, 2), round(100.0 * est.hi, 2))
    flagged = pct is not None and pct >= flag_pct
    return SlideSummary(image, int(image_hw[1]), int(image_hw[0]), n, k, pct, ci, flagged, flag_pct,
                        call_by)


__all__ = ["SlideRules", "SlideSummary", "summarize"]
