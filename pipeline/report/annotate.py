"""The annotated slide image: boxes, numbered cell markers, a side list, banner, legend, provenance.

Layout (nothing is drawn over the slide except boxes and their markers)::

    +-------------------------------------------------+-------------------+
    | banner: model warnings, leukocytes, blasts, blast % [95% CI], call  |
    | legend: colour of each call; what the numbers are                   |
    +-------------------------------------------------+-------------------+
    | slide with boxes; each box carries its cell id  | side list:        |
    | (the ``cell_id`` of the cells table), placed by | "12 blast 0.91 ?" |
    | supervision's LabelAnnotator (smart_position)   | id, call, conf.   |
    +-------------------------------------------------+-------------------+
    | footer: provenance (models, hashes, settings)                       |
    +---------------------------------------------------------------------+

Short id markers stay next to their boxes in dense clusters where full labels would drift;
the side list gives the call and its confidence per id (``?``: an uncertain cell).

Input: the pipeline's ``supervision.Detections`` (``xyxy`` pixels) with ``data[CELL_CLASS]``
and ``data[BLAST_PROB]`` (NaN where the cell was not assessed) (:mod:`leukoscan.schema`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from leukoscan.pipeline.report.differential import (
    TYPE_RGB,
    UNTYPED,
    banner_parts,
    legend_items,
    type_colour,
    type_labels,
)
from leukoscan.schema import BLAST_PROB, BLAST_THRESHOLD, CELL_CLASS, CELL_TYPE, NORMAL

if TYPE_CHECKING:
    import supervision as sv

    from leukoscan.pipeline.report.differential import Differential
    from leukoscan.pipeline.report.summary import SlideSummary

RGB = tuple[int, int, int]
BLAST_RGB: RGB = (215, 25, 28)
NORMAL_RGB: RGB = (30, 100, 220)
OTHER_RGB: RGB = (110, 110, 110)  # a cell with no blast call (call_by "count")
FLAG_RGB: RGB = (180, 0, 0)
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def call_confidence(cell_class: str, blast_prob: float, blast_class: str = "blast") -> float:
    """Confidence of the call: P(blast) for a blast, 1 - P(blast) otherwise (NaN: not assessed)."""
    p = float(blast_prob)
    return p if cell_class == blast_class else 1.0 - p


def cell_labels(det: sv.Detections, blast_class: str = "blast") -> list[str]:
    """``"blast 0.91"`` / ``"normal 0.88"``; a cell without a blast probability shows its class only."""
    out = []
    for c, p in zip(det.data[CELL_CLASS], det.data[BLAST_PROB], strict=True):
        conf = call_confidence(str(c), p, blast_class)
        out.append(str(c) if np.isnan(conf) else f"{c} {conf:.2f}")
    return out


def _colour(cell_class: str, blast_class: str) -> RGB:
    """Blast red, normal blue, a cell type its own colour (the differential), anything else grey."""
    if cell_class == blast_class:
        return BLAST_RGB
    if cell_class == NORMAL:
        return NORMAL_RGB
    return type_colour(cell_class) if cell_class in TYPE_RGB else OTHER_RGB


def _text_size(text: str, scale: float, thick: int) -> tuple[int, int, int]:
    import cv2

    (w, h), base = cv2.getTextSize(text, FONT, scale, thick)
    return w, h, base


def _wrap(parts: Sequence[str], width: int, scale: float, thick: int, sep: str = "  |  ") -> list[str]:
    """Join ``parts`` with ``sep`` into lines no wider than ``width`` px (a too-long part stands alone)."""
    lines: list[str] = []
    cur = ""
    for p in parts:
        trial = p if not cur else cur + sep + p
        if cur and _text_size(trial, scale, thick)[0] > width:
            lines.append(cur)
            cur = p
        else:
            cur = trial
    if cur:
        lines.append(cur)
    out = []
    for line in lines:  # hard-wrap a single part wider than the image, at spaces
        while _text_size(line, scale, thick)[0] > width and " " in line:
            words, head = line.split(" "), ""
            for k in range(len(words), 0, -1):
                head = " ".join(words[:k])
                if _text_size(head, scale, thick)[0] <= width or k == 1:
                    break
            out.append(head)
            line = " ".join(line.split(" ")[len(head.split(" ")) :])
        out.append(line)
    return out


def _summary_parts(summary: SlideSummary | None, n: int) -> list[tuple[str, RGB]]:
    """Banner phrases; the red ones (FLAG, review) are drawn in :data:`FLAG_RGB`."""
    if summary is None:
        return [(_plural(n, "leukocyte"), (0, 0, 0))]
    if summary.leukocytes == 0:
        return [("NO LEUKOCYTES FOUND: review the slide", FLAG_RGB)]
    parts = [(_plural(summary.leukocytes, "leukocyte"), (0, 0, 0))]
    if summary.blast_pct is None or summary.blasts is None:
        parts.append(("blasts not assessed", (0, 0, 0)))
        return parts
    lo, hi = summary.blast_pct_ci95
    parts += [
        (_plural(summary.blasts, "blast"), (0, 0, 0)),
        (f"blast {summary.blast_pct:.1f}% (95% CI {lo:.1f}-{hi:.1f})", (0, 0, 0)),
    ]
    if summary.uncertain:
        parts.append((f"{summary.uncertain} uncertain", FLAG_RGB))
    status = getattr(summary, "status", "") or ("FLAG" if summary.flagged else "")
    bound = " (95% lower bound)" if getattr(summary, "flag_rule", "") == "lower" else ""
    words = {
        "FLAG": f"FLAG: blast %{bound} >= {summary.flag_pct:g}",
        "borderline": f"BORDERLINE: blast % >= {summary.flag_pct:g}, lower bound below: review",
        "insufficient cells": f"INSUFFICIENT CELLS (< {summary.min_cells}): no slide call, review",
        "clear": "clear",
    }
    if status in words:
        parts.append((words[status], (0, 0, 0) if status == "clear" else FLAG_RGB))
    call_by = getattr(summary, "call_by", None)
    if call_by:
        parts.append((f"calls by {call_by}", (0, 0, 0)))
    return parts


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _strip(
    lines: list[tuple[str, RGB]] | list[list[tuple[str, RGB]]], width: int, scale: float, thick: int, bg: RGB
) -> np.ndarray:
    """Lines of text; a line is ``(text, colour)`` or a list of such segments drawn side by side."""
    import cv2

    _, th, base = _text_size("Ag", scale, thick)
    line_h = th + base + max(4, th // 2)
    strip = np.full((line_h * len(lines) + max(4, th // 2), width, 3), bg, np.uint8)
    for k, line in enumerate(lines):
        y = line_h * (k + 1) - base
        x = max(3, th // 3)
        for text, col in line if isinstance(line, list) else [line]:
            cv2.putText(strip, text, (x, y), FONT, scale, col, thick, cv2.LINE_AA)
            x += _text_size(text, scale, thick)[0]
    return strip


def _wrap_segments(
    parts: list[tuple[str, RGB]], width: int, scale: float, thick: int, sep: str = "  |  "
) -> list[list[tuple[str, RGB]]]:
    """Banner phrases, each in its own colour, joined by ``sep`` into lines no wider than ``width``."""
    lines: list[list[tuple[str, RGB]]] = [[]]
    used = 0
    for text, col in parts:
        piece = text if not lines[-1] else sep + text
        w = _text_size(piece, scale, thick)[0]
        if lines[-1] and used + w > width:
            lines.append([])
            piece, w = text, _text_size(text, scale, thick)[0]
        lines[-1].append((piece, col))
        used = w if len(lines[-1]) == 1 else used + w
    return [ln for ln in lines if ln]


def annotate(
    image: np.ndarray,
    det: sv.Detections,
    *,
    summary: SlideSummary | None = None,
    footer: Sequence[str] = (),
    blast_class: str = "blast",
    blast_threshold: float = BLAST_THRESHOLD,
    warnings: Sequence[str] = (),
    uncertain_band: float = 0.15,
    differential: Differential | None = None,
) -> np.ndarray:
    """RGB uint8 canvas: banner + legend above the slide, boxes and id markers on it, the side
    list of calls right of it, ``footer`` below. The slide keeps its size; the input is not modified.
    Cell ids are 1-based positions in ``det`` (the ``cell_id`` of the cells table). With a
    ``differential`` (the type stage ran), boxes and side list show each cell's type
    ("neutrophil 0.93"), the banner and legend each type's count and %."""
    H, W = image.shape[:2]
    scale = max(0.4, min(1.6, max(H, W) / 1800))
    thick = max(1, round(scale * 1.6))
    canvas = np.ascontiguousarray(image.copy())
    classes = [str(c) for c in det.data.get(CELL_CLASS, [])] if len(det) else []
    typed = differential is not None and CELL_TYPE in det.data and len(det)
    labels = type_labels(det, [UNTYPED] * len(det)) if typed else None
    if typed:
        classes = [str(t) or UNTYPED for t in det.data[CELL_TYPE]]
    side = None
    if len(det):
        canvas = _draw_cells(canvas, det, classes, blast_class, scale, thick)
        side = _side_list(det, classes, blast_class, blast_threshold, uncertain_band, H, scale, thick, labels)
    else:
        _empty_mark(canvas, scale, thick)
    slide = canvas if side is None else np.concatenate([canvas, side], axis=1)
    width = slide.shape[1]
    parts = _summary_parts(summary, len(det))
    parts += [(p, (0, 0, 0)) for p in banner_parts(differential)] if differential is not None else []
    head = _wrap_segments(parts, width - 8, scale * 1.1, thick)
    warn = [[(t, FLAG_RGB)] for w in warnings for t in _wrap([f"!! {w}"], width - 8, scale * 1.1, thick)]
    banner = _strip(warn + head, width, scale * 1.1, thick, (245, 245, 245))
    items = [(f"blast (blast probability >= {blast_threshold:g})", BLAST_RGB), ("normal", NORMAL_RGB)]
    items += [(c, OTHER_RGB) for c in sorted(set(classes) - {blast_class, NORMAL})]
    if differential is not None:
        items = legend_items(differential)
    items.append(("number: cell id (cells table); side list: call + its confidence, ? = uncertain", None))
    legend = _legend(items, width, scale, thick)
    out = [banner, legend, slide]
    if footer:
        lines = _wrap(list(footer), width - 8, scale * 0.8, max(1, thick - 1), sep="; ")
        out.append(_strip([(t, (40, 40, 40)) for t in lines], width, scale * 0.8, max(1, thick - 1), (230, 230, 230)))
    return np.ascontiguousarray(np.concatenate(out, axis=0))


def _draw_cells(
    canvas: np.ndarray, det: sv.Detections, classes: list[str], blast_class: str, scale: float, thick: int
) -> np.ndarray:
    """Boxes (sv.BoxAnnotator) and id markers (sv.LabelAnnotator, smart_position) on an RGB canvas."""
    import supervision as sv

    H, W = canvas.shape[:2]
    kinds = sorted(set(classes))
    palette = sv.ColorPalette([sv.Color(*_colour(c, blast_class)) for c in kinds])
    lookup = np.array([kinds.index(c) for c in classes], dtype=np.int64)
    boxes = sv.Detections(xyxy=np.asarray(det.xyxy, np.float32))
    bgr = np.ascontiguousarray(canvas[..., ::-1])  # supervision draws numpy scenes as BGR
    bgr = sv.BoxAnnotator(color=palette, thickness=max(2, round(max(H, W) / 500))).annotate(
        bgr, boxes, custom_color_lookup=lookup
    )
    labels = sv.LabelAnnotator(
        color=palette, text_scale=scale, text_thickness=thick, text_padding=max(2, thick + 1), smart_position=True
    )
    bgr = labels.annotate(bgr, boxes, labels=[str(i + 1) for i in range(len(det))], custom_color_lookup=lookup)
    return np.ascontiguousarray(bgr[..., ::-1])


def side_list_lines(
    det: sv.Detections,
    blast_class: str = "blast",
    blast_threshold: float = BLAST_THRESHOLD,
    uncertain_band: float = 0.15,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """``"12 blast 0.91"`` per cell (id = 1-based position), ``" ?"`` appended when uncertain;
    ``labels`` replace the call labels (e.g. the cell types of the differential)."""
    out = []
    labels = cell_labels(det, blast_class) if labels is None else labels
    for i, (label, p) in enumerate(zip(labels, det.data[BLAST_PROB], strict=True)):
        unsure = not np.isnan(float(p)) and abs(float(p) - blast_threshold) < uncertain_band
        out.append(f"{i + 1} {label}" + (" ?" if unsure else ""))
    return out


def _side_list(
    det: sv.Detections,
    classes: list[str],
    blast_class: str,
    blast_threshold: float,
    band: float,
    height: int,
    scale: float,
    thick: int,
    labels: Sequence[str] | None = None,
) -> np.ndarray:
    """The column(s) right of the slide: one line per cell, in the colour of its call (or type)."""
    import cv2

    lines = side_list_lines(det, blast_class, blast_threshold, band, labels)
    _, th, base = _text_size("Ag", scale, thick)
    line_h, pad = th + base + max(4, th // 2), max(6, th)
    per_col = max(1, (height - pad) // line_h)
    col_w = max(_text_size(t, scale, thick)[0] for t in lines) + 2 * pad
    ncol = -(-len(lines) // per_col)
    panel = np.full((height, ncol * col_w, 3), 250, np.uint8)
    for k, (text, c) in enumerate(zip(lines, classes, strict=True)):
        x, y = (k // per_col) * col_w + pad, (k % per_col + 1) * line_h
        cv2.putText(panel, text, (x, y), FONT, scale, _colour(c, blast_class), thick, cv2.LINE_AA)
    return panel


def _legend(items: list[tuple[str, RGB | None]], width: int, scale: float, thick: int) -> np.ndarray:
    """One or more lines of colour swatches with their meaning, wrapped to ``width``."""
    import cv2

    _, th, base = _text_size("Ag", scale, thick)
    gap, line_h = max(6, th), th + base + max(4, th // 2)
    spots, x, y = [], 4, 0
    for text, col in items:
        w = _text_size(text, scale, thick)[0] + (th + gap // 2 if col else 0)
        if x > 4 and x + w > width - 4:
            x, y = 4, y + 1
        spots.append((x, y, text, col))
        x += w + gap
    strip = np.full((line_h * (y + 1) + max(2, th // 3), width, 3), (245, 245, 245), np.uint8)
    for x, row, text, col in spots:
        yb = line_h * (row + 1) - base
        if col:
            cv2.rectangle(strip, (x, yb - th), (x + th, yb), col, -1)
            x += th + gap // 2
        cv2.putText(strip, text, (x, yb), FONT, scale, (0, 0, 0) if col else (90, 90, 90), thick, cv2.LINE_AA)
    return strip


def _empty_mark(canvas: np.ndarray, scale: float, thick: int) -> None:
    """Write "no leukocytes found" across the middle of the slide, on a white box."""
    import cv2

    H, W = canvas.shape[:2]
    text = "no leukocytes found"
    s = scale * 1.5
    w, h, base = _text_size(text, s, thick + 1)
    while w > W - 8 and s > 0.3:
        s *= 0.8
        w, h, base = _text_size(text, s, thick + 1)
    x, y = max(0, (W - w) // 2), (H + h) // 2
    cv2.rectangle(canvas, (x - 4, y - h - 4), (x + w + 4, y + base + 4), (255, 255, 255), -1)
    cv2.putText(canvas, text, (x, y), FONT, s, FLAG_RGB, thick + 1, cv2.LINE_AA)


__all__ = ["annotate", "call_confidence", "cell_labels", "side_list_lines"]
