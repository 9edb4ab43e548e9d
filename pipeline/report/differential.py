"""The per-slide differential: how many white cells of each type, with 95% Wilson intervals.

Input: the cell types the type stage set (``data[CELL_TYPE]``, :mod:`leukoscan.pipeline.infer.cell_types`)
or the ``cell_type`` column of cell rows. As in a manual differential:

- *counted* cells are the typed leukocytes, blasts included: every type except
  nucleated red cells (:data:`~leukoscan.schema.NRBC_TYPES`) and untyped detections
  (non-cells such as platelets: :data:`~leukoscan.schema.NOT_TYPED`);
- each leukocyte type: count, % of the counted cells and its 95% Wilson interval; the
  counts sum to the counted cells;
- nucleated red cells are listed apart, as a count and per 100 counted leukocytes;
- fewer than :data:`MIN_COUNTED` (100) counted cells: a plain warning (the usual minimum
  for a manual differential; the intervals are wide).

Slides keep their blast flag (the slide summary); the differential adds to it.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.classify.metrics import wilson
from leukoscan.schema import CELL_TYPE, NOT_TYPED, NRBC_TYPES, TYPE_CONF

if TYPE_CHECKING:
    import supervision as sv

#: The usual minimum of cells for a manual differential.
MIN_COUNTED = 100
#: Order of the rows (types not listed follow, sorted); every listed type gets a row, also at 0.
DIFF_TYPES = ("neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil", "ig", "blast")
#: Box / legend colour per type (RGB); other types grey.
TYPE_RGB: dict[str, tuple[int, int, int]] = {
    "blast": (215, 25, 28),
    "neutrophil": (30, 100, 220),
    "lymphocyte": (0, 150, 80),
    "monocyte": (150, 60, 190),
    "eosinophil": (230, 120, 0),
    "basophil": (90, 50, 20),
    "ig": (0, 160, 170),
    "erythroblast": (200, 60, 130),
}
OTHER_TYPE_RGB = (110, 110, 110)
#: Label of a detection the type stage left untyped (not a white cell), in images and exports.
UNTYPED = "untyped"


@dataclass(frozen=True)
class TypeCount:
    """One row: ``count`` cells of ``type``; ``pct`` and ``ci95`` in percent of the counted cells."""

    type: str
    count: int
    pct: float | None
    ci95: tuple[float | None, float | None]


@dataclass(frozen=True)
class Differential:
    """The differential of one slide (or of several slides pooled)."""

    counted: int  # typed leukocytes, blasts included (the base of every %)
    rows: tuple[TypeCount, ...]
    nrbc: int  # nucleated red cells (not in ``counted``)
    nrbc_per_100: float | None  # per 100 counted leukocytes
    not_typed: int  # detections not typed (non-cells)
    warning: str | None  # set when fewer than MIN_COUNTED cells were counted

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = [{**asdict(r), "ci95": list(r.ci95)} for r in self.rows]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Differential:
        rows = tuple(TypeCount(r["type"], int(r["count"]), r["pct"], tuple(r["ci95"])) for r in d["rows"])
        return cls(int(d["counted"]), rows, int(d["nrbc"]), d["nrbc_per_100"], int(d["not_typed"]), d["warning"])

    def row(self, cell_type: str) -> TypeCount | None:
        return next((r for r in self.rows if r.type == cell_type), None)


def differential(types: Iterable[str], *, order: Sequence[str] = DIFF_TYPES) -> Differential:
    """The differential of a sequence of per-cell types (``""`` = not typed)."""
    counts = Counter(str(t) for t in types)
    not_typed = counts.pop(NOT_TYPED, 0)
    nrbc = sum(counts.pop(t, 0) for t in NRBC_TYPES)
    n = sum(counts.values())
    rows = []
    for t in [*order, *sorted(set(counts) - set(order))]:
        k = counts.get(t, 0)
        est = wilson(k, n)
        rows.append(
            TypeCount(
                t,
                k,
                None if n == 0 else round(100 * est.value, 2),
                (None, None) if n == 0 else (round(100 * est.lo, 2), round(100 * est.hi, 2)),
            )
        )
    warning = None
    if n < MIN_COUNTED:
        warning = (
            f"only {n} white cells counted (fewer than {MIN_COUNTED}, the usual minimum for a "
            "differential): the percentages are imprecise"
        )
    return Differential(n, tuple(rows), nrbc, None if n == 0 else round(100 * nrbc / n, 2), not_typed, warning)


def from_detections(det: sv.Detections) -> Differential | None:
    """The differential of the pipeline's cells; None when the type stage did not run."""
    if CELL_TYPE not in det.data:
        return None
    return differential(det.data[CELL_TYPE] if len(det) else [])


def from_rows(rows: Sequence[dict[str, Any]]) -> Differential | None:
    """The differential of cell-table rows (``cell_type`` column); None without that column."""
    if not rows or "cell_type" not in rows[0]:
        return None
    return differential(r["cell_type"] or NOT_TYPED for r in rows)


def pooled(diffs: Iterable[dict[str, Any] | None]) -> Differential | None:
    """All slides' cells counted together (from :meth:`Differential.to_dict` records)."""
    types: list[str] = []
    seen = False
    for d in diffs:
        if d is None:
            continue
        seen = True
        types += [r["type"] for r in d["rows"] for _ in range(r["count"])]
        types += [NRBC_TYPES[0]] * d["nrbc"] + [NOT_TYPED] * d["not_typed"]
    return differential(types) if seen else None


def type_labels(det: sv.Detections, fallback: Sequence[str]) -> list[str]:
    """Per-cell image labels ``"neutrophil 0.93"`` (type + its confidence); ``fallback[i]`` when untyped."""
    out = []
    for i, (t, p) in enumerate(zip(det.data[CELL_TYPE], det.data[TYPE_CONF], strict=True)):
        out.append(fallback[i] if t == NOT_TYPED else str(t) if np.isnan(p) else f"{t} {float(p):.2f}")
    return out


def type_colour(cell_type: str) -> tuple[int, int, int]:
    return TYPE_RGB.get(cell_type, OTHER_TYPE_RGB)


def legend_items(diff: Differential) -> list[tuple[str, tuple[int, int, int] | None]]:
    """Legend of the annotated image: one swatch per type with its count and %."""
    items: list[tuple[str, tuple[int, int, int] | None]] = []
    for r in diff.rows:
        if r.count or r.type in DIFF_TYPES:
            pct = "" if r.pct is None else f" {r.pct:.0f}%"
            items.append((f"{r.type} {r.count}{pct}", type_colour(r.type)))
    if diff.nrbc:
        items.append((f"erythroblast (NRBC) {diff.nrbc}", type_colour("erythroblast")))
    if diff.not_typed:
        items.append((f"{UNTYPED} (not a white cell) {diff.not_typed}", OTHER_TYPE_RGB))
    items.append(("label: type + its confidence", None))
    return items


def banner_parts(diff: Differential) -> list[str]:
    """Banner text: cells counted, nucleated red cells, the warning."""
    parts = [f"differential of {diff.counted} white cells"]
    if diff.nrbc:
        parts.append(f"{diff.nrbc} NRBC ({diff.nrbc_per_100:g} per 100 WBC)")
    if diff.warning:
        parts.append(f"WARNING: fewer than {MIN_COUNTED} cells counted")
    return parts


def text_lines(diff: Differential) -> list[str]:
    """Console lines: ``neutrophil  12  60.0% [38.7, 78.1]``."""
    out = [f"  differential ({diff.counted} white cells counted; {diff.not_typed} detections not typed)"]
    for r in diff.rows:
        ci = "" if r.pct is None else f" {r.pct:5.1f}% [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]"
        out.append(f"    {r.type:13s} {r.count:4d}{ci}")
    if diff.nrbc:
        out.append(f"    {'erythroblast':13s} {diff.nrbc:4d} ({diff.nrbc_per_100:g} per 100 WBC, not counted)")
    if diff.warning:
        out.append(f"  WARNING: {diff.warning}")
    return out


def csv_fields(types: Sequence[str]) -> list[str]:
    """Columns of the differential in ``summary.csv`` for the given types."""
    fields = ["wbc_counted", "wbc_not_typed", "nrbc"]
    for t in types:
        fields += [f"{t}_n", f"{t}_pct", f"{t}_ci95_lo", f"{t}_ci95_hi"]
    return fields + ["differential_warning"]


def csv_values(d: dict[str, Any] | None, types: Sequence[str]) -> list[Any]:
    """Values for :func:`csv_fields` from a :meth:`Differential.to_dict` record (blanks when None)."""
    if d is None:
        return [""] * len(csv_fields(types))
    by = {r["type"]: r for r in d["rows"]}
    vals: list[Any] = [d["counted"], d["not_typed"], d["nrbc"]]
    for t in types:
        r = by.get(t)
        vals += ["", "", "", ""] if r is None else [r["count"], r["pct"], *r["ci95"]]
    return vals + [d["warning"] or ""]


def csv_types(diffs: Iterable[dict[str, Any] | None]) -> list[str]:
    """The types that get columns: every row type of any slide, in row order."""
    out: list[str] = []
    for d in diffs:
        for r in (d or {}).get("rows", []):
            if r["type"] not in out:
                out.append(r["type"])
    return out


def html_table(diff: Differential | dict[str, Any] | None) -> str:
    """An HTML table of the differential (escaped); empty string when None."""
    if diff is None:
        return ""
    d = diff if isinstance(diff, Differential) else Differential.from_dict(diff)
    rows = "".join(
        f"<tr><td>{html.escape(r.type)}</td><td>{r.count}</td><td>{'' if r.pct is None else f'{r.pct:.1f}'}</td>"
        f"<td>{'' if r.pct is None else f'{r.ci95[0]:.1f} - {r.ci95[1]:.1f}'}</td></tr>"
        for r in d.rows
    )
    extra = (
        f"<p>Nucleated red cells: {d.nrbc} ({d.nrbc_per_100:g} per 100 white cells), not counted.</p>" if d.nrbc else ""
    )
    warn = f'<p class="warn"><b>Warning:</b> {html.escape(d.warning)}</p>' if d.warning else ""
    return (
        f'<table class="diff"><caption>Differential: {d.counted} white cells counted '
        f"({d.not_typed} detections not typed)</caption><tr><th>type</th><th>cells</th><th>%</th>"
        f"<th>95% CI (%)</th></tr>{rows}</table>{extra}{warn}"
    )


def html_section(records: Sequence[dict[str, Any]]) -> str:
    """The report's "Differential" section: all slides pooled, then one table per slide
    (from manifest records' ``differential``); empty string when no slide was typed."""
    typed = [r for r in records if r.get("differential") is not None]
    if not typed:
        return ""
    pool = pooled(r["differential"] for r in typed)
    per = "".join(
        f"<details open><summary>{html.escape(r['key'])}</summary>{html_table(r['differential'])}</details>"
        for r in typed
    )
    return (
        '<h2 id="differential">Differential</h2><p>Cell types from the type classifier (blasts from the '
        "blast stage); percent of the white cells counted, with 95% Wilson intervals. Nucleated red "
        "cells and untyped detections are not counted. Research output, not a validated differential.</p>"
        f"<h3>All slides pooled</h3>{html_table(pool)}<h3>Per slide</h3>{per}"
    )


__all__ = [
    "DIFF_TYPES",
    "MIN_COUNTED",
    "UNTYPED",
    "Differential",
    "TypeCount",
    "banner_parts",
    "csv_fields",
    "csv_types",
    "csv_values",
    "differential",
    "from_detections",
    "from_rows",
    "html_section",
    "html_table",
    "legend_items",
    "pooled",
    "text_lines",
    "type_colour",
    "type_labels",
]
