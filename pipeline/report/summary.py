"""One slide's summary: leukocyte count, blasts, blast % with its 95% Wilson interval, flag.

Input is the pipeline's ``supervision.Detections`` with ``data[CELL_CLASS]`` per cell
(:mod:`leukoscan.schema`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.classify.metrics import wilson
from leukoscan.schema import CELL_CLASS

if TYPE_CHECKING:
    import supervision as sv


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
    threshold_pct: float
    call_by: str = ""  # how blasts were called (leukoscan.schema.CALL_METHODS key); "count": not at all

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blast_pct_ci95"] = list(self.blast_pct_ci95)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SlideSummary:
        """Inverse of :meth:`to_dict` (keys this version does not know are ignored)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["blast_pct_ci95"] = tuple(known.get("blast_pct_ci95") or (None, None))
        return cls(**known)


def summarize(det: sv.Detections, *, image: str, image_hw: tuple[int, int], threshold_pct: float = 20.0,
              blast_class: str = "blast", call_by: str = "") -> SlideSummary:
    """Slide summary; ``blast_pct`` is ``None`` when no leukocyte was found or blasts were not
    assessed (``call_by="count"``: a detector without a blast class, no classifier); the flag
    then stays False."""
    n = len(det)
    if call_by == "count":
        return SlideSummary(image, int(image_hw[1]), int(image_hw[0]), n, 0, None, (None, None), False,
                            threshold_pct, call_by)
    k = int(np.sum(np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast_class)) if n else 0
    est = wilson(k, n)
    pct = None if n == 0 else round(100.0 * est.value, 2)
    ci = (None, None) if n == 0 else (round(100.0 * est.lo, 2), round(100.0 * est.hi, 2))
    flagged = pct is not None and pct >= threshold_pct
    return SlideSummary(image, int(image_hw[1]), int(image_hw[0]), n, k, pct, ci, flagged, threshold_pct,
                        call_by)


__all__ = ["SlideSummary", "summarize"]
