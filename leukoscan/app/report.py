"""Slide-level outputs: per-cell table, slide summary, annotated image, HTML batch report.

Input is the pipeline's ``supervision.Detections`` (``xyxy`` pixels of the original
image) carrying ``data[CELL_CLASS]`` and ``data[BLAST_PROB]`` per cell
(:mod:`leukoscan.schema`).
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan.classify.metrics import wilson
from leukoscan.io import atomic_write_json, atomic_write_text, write_image
from leukoscan.schema import BLAST_PROB, CELL_CLASS, CLASS_NAME

if TYPE_CHECKING:
    import supervision as sv

CELL_FIELDS = ("cell_id", "x1", "y1", "x2", "y2", "det_class", "det_score", "cell_class", "blast_prob")


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blast_pct_ci95"] = list(self.blast_pct_ci95)
        return d


def cell_rows(det: sv.Detections) -> list[dict[str, Any]]:
    """Per-cell records (``CELL_FIELDS``) from pipeline detections; boxes in pixels."""
    rows = []
    for i in range(len(det)):
        x1, y1, x2, y2 = (round(float(v), 1) for v in det.xyxy[i])
        rows.append({
            "cell_id": i + 1, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "det_class": str(det.data[CLASS_NAME][i]) if CLASS_NAME in det.data else "",
            "det_score": round(float(det.confidence[i]), 4) if det.confidence is not None else None,
            "cell_class": str(det.data[CELL_CLASS][i]),
            "blast_prob": round(float(det.data[BLAST_PROB][i]), 4),
        })
    return rows


def summarize(det: sv.Detections, *, image: str, image_hw: tuple[int, int], threshold_pct: float = 20.0,
              blast_class: str = "blast") -> SlideSummary:
    """Slide summary; ``blast_pct`` is ``None`` when no leukocyte was found (flag stays False)."""
    n = len(det)
    k = int(np.sum(np.asarray(det.data.get(CELL_CLASS, []), dtype=object) == blast_class)) if n else 0
    est = wilson(k, n)
    pct = None if n == 0 else round(100.0 * est.value, 2)
    ci = (None, None) if n == 0 else (round(100.0 * est.lo, 2), round(100.0 * est.hi, 2))
    flagged = pct is not None and pct >= threshold_pct
    return SlideSummary(image, int(image_hw[1]), int(image_hw[0]), n, k, pct, ci, flagged, threshold_pct)


def annotate(image: np.ndarray, det: sv.Detections, *, blast_class: str = "blast") -> np.ndarray:
    """RGB image with boxes coloured by cell class (red = blast, blue = other) and labels."""
    import supervision as sv

    if len(det) == 0:
        return image.copy()
    is_blast = np.asarray(det.data[CELL_CLASS], dtype=object) == blast_class
    view = sv.Detections(xyxy=det.xyxy.astype(np.float32), class_id=is_blast.astype(int))
    palette = sv.ColorPalette([sv.Color(40, 110, 230), sv.Color(220, 30, 30)])
    thick = max(2, round(max(image.shape[:2]) / 400))
    scale = max(0.4, max(image.shape[:2]) / 1600)
    labels = [f"{c} {p:.2f}" for c, p in zip(det.data[CELL_CLASS], det.data[BLAST_PROB], strict=True)]
    bgr = np.ascontiguousarray(image[..., ::-1])  # supervision draws in OpenCV's BGR order
    out = sv.BoxAnnotator(color=palette, thickness=thick, color_lookup=sv.ColorLookup.CLASS).annotate(bgr, view)
    out = sv.LabelAnnotator(color=palette, text_scale=scale, text_thickness=max(1, thick // 2),
                            color_lookup=sv.ColorLookup.CLASS).annotate(out, view, labels=labels)
    return np.ascontiguousarray(out[..., ::-1])


def write_cells(rows: list[dict[str, Any]], csv_path: Path, json_path: Path,
                summary: SlideSummary, notes: list[str] | tuple[str, ...] = ()) -> None:
    """Cell table as CSV and JSON (JSON also carries the summary); both written atomically.

    ``notes`` (how the image was read, e.g. its bit depth) go into the JSON and, when
    any, into a ``note`` column of every CSV row.
    """
    buf = io.StringIO()
    note = "; ".join(notes)
    writer = csv.DictWriter(buf, fieldnames=CELL_FIELDS + (("note",) if note else ()))
    writer.writeheader()
    writer.writerows([{**r, "note": note} for r in rows] if note else rows)
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_json(json_path, {"summary": summary.to_dict(), "cells": rows, "notes": list(notes)})


def write_html(path: Path, entries: list[dict[str, Any]], failures: list[tuple[str, str]]) -> None:
    """Batch report: one row per slide (thumbnail, summary) and a list of failed inputs.

    ``entries``: dicts with ``summary`` (SlideSummary) and ``thumb`` (path relative to ``path``).
    """
    head = ("<tr><th>Slide</th><th>Image</th><th>Leukocytes</th><th>Blasts</th>"
            "<th>Blast %</th><th>95% CI</th><th>Flag</th></tr>")
    rows = []
    for e in entries:
        s: SlideSummary = e["summary"]
        pct = "n/a" if s.blast_pct is None else f"{s.blast_pct:.1f}"
        ci = "n/a" if s.blast_pct is None else f"{s.blast_pct_ci95[0]:.1f}&ndash;{s.blast_pct_ci95[1]:.1f}"
        flag = f"&ge; {s.threshold_pct:g}% blasts" if s.flagged else ""
        rows.append(
            f"<tr><td>{html.escape(s.image)}</td>"
            f"<td><a href=\"{html.escape(e['thumb'])}\"><img src=\"{html.escape(e['thumb'])}\" width=\"240\"></a></td>"
            f"<td>{s.leukocytes}</td><td>{s.blasts}</td><td>{pct}</td><td>{ci}</td>"
            f"<td class=\"flag\">{flag}</td></tr>")
    fails = "".join(f"<li>{html.escape(n)}: {html.escape(m)}</li>" for n, m in failures)
    doc = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>LeukoScan report</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px}"
        "table{border-collapse:collapse}.flag{color:#b00;font-weight:bold}</style></head><body>"
        "<h1>LeukoScan report</h1><p>Research tool: not for diagnosis.</p>"
        f"<table>{head}{''.join(rows)}</table>"
        + (f"<h2>Failed inputs</h2><ul>{fails}</ul>" if failures else "")
        + "</body></html>\n")
    atomic_write_text(path, doc)


def save_annotated(path: Path, image: np.ndarray, det: sv.Detections, *, max_side: int | None = None,
                   blast_class: str = "blast") -> None:
    out = annotate(image, det, blast_class=blast_class)
    if max_side and max(out.shape[:2]) > max_side:
        import cv2

        f = max_side / max(out.shape[:2])
        out = cv2.resize(out, (round(out.shape[1] * f), round(out.shape[0] * f)), interpolation=cv2.INTER_AREA)
    write_image(path, out)


__all__ = ["SlideSummary", "annotate", "cell_rows", "save_annotated", "summarize",
           "write_cells", "write_html"]
