"""Slide-level outputs: per-cell table, annotated image file (the summary: :mod:`leukoscan.pipeline.report.summary`).

Input is the pipeline's ``supervision.Detections`` (``xyxy`` pixels of the original
image) carrying ``data[CELL_CLASS]`` and ``data[BLAST_PROB]`` per cell
(:mod:`leukoscan.schema`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.encode import csv_rows
from leukoscan.io import atomic_write_json, atomic_write_text, write_image
from leukoscan.pipeline.report.annotate import annotate, call_confidence
from leukoscan.pipeline.report.slide_stats import uncertain_mask
from leukoscan.pipeline.report.summary import SlideSummary
from leukoscan.schema import BLAST_PROB, BLAST_THRESHOLD, CALL_BY, CELL_CLASS, CLASS_NAME

if TYPE_CHECKING:
    import supervision as sv

#: Columns of the cells table. Boxes are ``xyxy`` in pixels of the input image (origin top
#: left); scores and probabilities are in [0, 1]; ``call_conf`` is the confidence of the call
#: (P(blast) for a blast, 1 - P(blast) for a normal cell); empty = not assessed.
CELL_FIELDS = (
    "cell_id",
    "x1_px",
    "y1_px",
    "x2_px",
    "y2_px",
    "det_class",
    "det_score",
    "cell_class",
    "call_conf",
    "blast_prob",
    "review",
)
#: Optional per-cell keys written when the pipeline sets them (issue 12: fusion of the stages).
EXTRA_CELL_FIELDS = (
    "call_by",
    "det_blast",
    "det_leukocyte",
    "clf_blast",
    # issue 24, the type stage: the cell's type ("" = not typed) and its confidence
    "cell_type",
    "type_conf",
)
UNITS = {
    "x1_px": "px",
    "y1_px": "px",
    "x2_px": "px",
    "y2_px": "px",
    "det_score": "probability [0, 1]",
    "call_conf": "probability [0, 1] of the call made",
    "blast_prob": "probability [0, 1] of blast",
    "det_blast": "probability [0, 1]",
    "det_leukocyte": "probability [0, 1]",
    "clf_blast": "probability [0, 1] (classifier alone)",
    "type_conf": "probability [0, 1] of the cell type given",
    "review": '"uncertain" when P(blast) is within the uncertain band of the call threshold',
    "blast_pct": "percent of leukocytes",
    "blast_pct_ci95": "percent, 95% interval over counting and call uncertainty (report.slide_stats)",
}


def _num(v: object, nd: int = 4) -> float | None:
    f = float(v)  # type: ignore[arg-type]
    return None if np.isnan(f) else round(f, nd)


def cell_rows(
    det: sv.Detections,
    blast_class: str = "blast",
    blast_threshold: float = BLAST_THRESHOLD,
    uncertain_band: float = 0.15,
) -> list[dict[str, Any]]:
    """Per-cell records (``CELL_FIELDS`` + any ``EXTRA_CELL_FIELDS`` present); boxes in pixels.
    Scores that were not assessed are ``None`` (empty in the CSV), never 0."""
    rows = []
    extras = [k for k in EXTRA_CELL_FIELDS if k in det.data]
    unc = uncertain_mask(det.data.get(BLAST_PROB, np.full(len(det), np.nan)), blast_threshold, uncertain_band)
    for i in range(len(det)):
        x1, y1, x2, y2 = (round(float(v), 1) for v in det.xyxy[i])
        cell_class, p = str(det.data[CELL_CLASS][i]), det.data[BLAST_PROB][i]
        row = {
            "cell_id": i + 1,
            "x1_px": x1,
            "y1_px": y1,
            "x2_px": x2,
            "y2_px": y2,
            "det_class": str(det.data[CLASS_NAME][i]) if CLASS_NAME in det.data else "",
            "det_score": round(float(det.confidence[i]), 4) if det.confidence is not None else None,
            "cell_class": cell_class,
            "call_conf": _num(call_confidence(cell_class, p, blast_class)),
            "blast_prob": _num(p),
            "review": "uncertain" if unc[i] else "",
        }
        count_only = CALL_BY in det.data and str(det.data[CALL_BY][i]) == "count"
        for k in extras:
            v = det.data[k][i]
            row[k] = str(v) if isinstance(v, str) else _num(v)
        if count_only and "det_blast" in row:
            row["det_blast"] = None  # the detector has no blast class: not assessed, not 0
        rows.append(row)
    return rows


def write_cells(
    rows: list[dict[str, Any]],
    csv_path: Path,
    json_path: Path,
    summary: SlideSummary,
    provenance: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    notes: list[str] | tuple[str, ...] = (),
    differential: dict[str, Any] | None = None,
) -> None:
    """Cell table as CSV and JSON (JSON also carries summary, units, source, provenance, notes); atomic.

    ``notes`` (how the image was read, e.g. its bit depth) go into the JSON and, when
    any, into a ``note`` column of every CSV row.
    """
    fields = list(CELL_FIELDS) + [k for k in EXTRA_CELL_FIELDS if rows and k in rows[0]]
    buf = io.StringIO()
    note = "; ".join(notes)
    writer = csv.DictWriter(buf, fieldnames=fields + (["note"] if note else []))
    writer.writeheader()
    writer.writerows(csv_rows([{**r, "note": note} for r in rows] if note else rows))
    atomic_write_text(csv_path, buf.getvalue())
    doc = {
        "source": source,
        "summary": summary.to_dict(),
        "units": UNITS,
        "provenance": provenance,
        "cells": rows,
        "notes": list(notes),
    }
    if differential is not None:  # the type stage ran (leukoscan.pipeline.report.differential)
        doc["differential"] = differential
    atomic_write_json(json_path, doc)


def save_annotated(
    path: Path,
    image: np.ndarray,
    det: sv.Detections,
    *,
    summary: SlideSummary | None = None,
    footer: list[str] | tuple[str, ...] = (),
    max_side: int | None = None,
    blast_class: str = "blast",
    blast_threshold: float,
    quality: int = 90,
    warnings: list[str] | tuple[str, ...] = (),
    uncertain_band: float = 0.15,
    differential: Any = None,
) -> None:
    """Annotated canvas (:func:`leukoscan.pipeline.report.annotate.annotate`) to ``path``; format from the suffix."""
    out = annotate(
        image,
        det,
        summary=summary,
        footer=footer,
        blast_class=blast_class,
        blast_threshold=blast_threshold,
        warnings=warnings,
        uncertain_band=uncertain_band,
        differential=differential,
    )
    if max_side and max(out.shape[:2]) > max_side:
        import cv2

        f = max_side / max(out.shape[:2])
        out = cv2.resize(out, (round(out.shape[1] * f), round(out.shape[0] * f)), interpolation=cv2.INTER_AREA)
    write_image(path, out, quality=quality)


__all__ = ["CELL_FIELDS", "annotate", "cell_rows", "save_annotated", "write_cells"]
