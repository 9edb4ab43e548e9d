"""The annotated slide image: boxes, non-overlapping labels, summary banner, legend, provenance.

Layout (nothing is drawn over the slide except boxes and their labels)::

    +-------------------------------------------------+
    | banner: leukocytes, blasts, blast % [95% CI], flag
    | legend: colour of each call; what the label number is
    +-------------------------------------------------+
    | slide with boxes; label "blast 0.91" = call and |
    | the confidence of that call                     |
    +-------------------------------------------------+
    | footer: provenance (models, hashes, settings)   |
    +-------------------------------------------------+

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
from leukoscan.schema import BLAST_PROB, CELL_CLASS, CELL_TYPE, NORMAL

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
    return BLAST_RGB if cell_class == blast_class else NORMAL_RGB if cell_class == NORMAL else OTHER_RGB


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def place_labels(boxes: np.ndarray, sizes: Sequence[tuple[int, int]], image_hw: tuple[int, int]
                 ) -> list[tuple[int, int, int, int]]:
    """Greedy label placement: one ``(x1, y1, x2, y2)`` rectangle per box, inside the image.

    ``boxes``: ``(N, 4)`` xyxy pixels; ``sizes``: ``(w, h)`` of each label. Each label tries
    above, inside-top, below, then left/right of its box, and takes the first spot free of
    earlier labels; if none is free it slides down from the least-covered spot until free
    (or until the image ends: then it overlaps least).
    """
    H, W = image_hw
    placed: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(boxes)
    order = np.lexsort((boxes[:, 0], boxes[:, 1])) if len(boxes) else []
    done: list[tuple[int, int, int, int]] = []

    def clamp(x: float, y: float, w: int, h: int) -> tuple[int, int, int, int]:
        x = int(min(max(0, x), max(0, W - w)))
        y = int(min(max(0, y), max(0, H - h)))
        return (x, y, x + w, y + h)

    def cost(r: tuple[int, int, int, int]) -> int:
        return sum(_overlap(r, d) for d in done)

    for i in order:
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        w, h = sizes[i]
        cands = [clamp(x1, y1 - h, w, h), clamp(x1, y1, w, h), clamp(x1, y2, w, h), clamp(x2 - w, y1 - h, w, h),
                 clamp(x2 - w, y2, w, h), clamp(x1 - w, y1, w, h), clamp(x2, y1, w, h), clamp(x2 - w, y2 - h, w, h)]
        best = min(cands, key=cost)
        if cost(best) > 0:
            for dy in range(0, H, max(1, h // 2)):  # slide down until free
                r = clamp(best[0], best[1] + dy, w, h)
                if cost(r) == 0:
                    best = r
                    break
        placed[i] = best
        done.append(best)
    return placed


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
            line = " ".join(line.split(" ")[len(head.split(" ")):])
        out.append(line)
    return out


def _summary_parts(summary: SlideSummary | None, n: int) -> list[tuple[str, RGB]]:
    if summary is None:
        return [(f"{n} leukocytes", (0, 0, 0))]
    if summary.leukocytes == 0:
        return [("NO LEUKOCYTES FOUND", FLAG_RGB)]
    parts = [(f"{summary.leukocytes} leukocytes", (0, 0, 0))]
    if summary.blast_pct is None:
        parts.append(("blasts not assessed", (0, 0, 0)))
        return parts
    lo, hi = summary.blast_pct_ci95
    parts += [(f"{summary.blasts} blasts", (0, 0, 0)),
              (f"blast {summary.blast_pct:.1f}% (95% CI {lo:.1f}-{hi:.1f})", (0, 0, 0))]
    if summary.flagged:
        parts.append((f"FLAG: blast % >= {summary.flag_pct:g}", FLAG_RGB))
    call_by = getattr(summary, "call_by", None)
    if call_by:
        parts.append((f"calls by {call_by}", (0, 0, 0)))
    return parts


def _strip(lines: list[tuple[str, RGB]], width: int, scale: float, thick: int, bg: RGB) -> np.ndarray:
    import cv2

    _, th, base = _text_size("Ag", scale, thick)
    line_h = th + base + max(4, th // 2)
    strip = np.full((line_h * len(lines) + max(4, th // 2), width, 3), bg, np.uint8)
    for k, (text, col) in enumerate(lines):
        y = line_h * (k + 1) - base
        x = max(3, th // 3)
        cv2.putText(strip, text, (x, y), FONT, scale, col, thick, cv2.LINE_AA)
    return strip


def annotate(image: np.ndarray, det: sv.Detections, *, summary: SlideSummary | None = None,
             footer: Sequence[str] = (), blast_class: str = "blast", blast_threshold: float = 0.5,
             differential: Differential | None = None) -> np.ndarray:
    """RGB uint8 canvas: banner + legend above the slide, boxes and labels on it, ``footer`` below.

    The slide keeps its size and position under the banner (its width is the canvas width);
    the input is not modified. With a ``differential`` (the type stage ran), boxes and labels
    show each cell's type ("neutrophil 0.93"), the legend each type's count and %.
    """
    import cv2

    H, W = image.shape[:2]
    scale = max(0.4, min(1.6, max(H, W) / 1800))
    thick = max(1, round(scale * 1.6))
    box_thick = max(2, round(max(H, W) / 500))
    canvas = np.ascontiguousarray(image.copy())
    classes = [str(c) for c in det.data.get(CELL_CLASS, [])] if len(det) else []
    typed = differential is not None and CELL_TYPE in det.data
    colour = (lambda c, b: type_colour(c) if c in TYPE_RGB else _colour(c, b)) if typed else _colour
    if len(det):
        labels = cell_labels(det, blast_class)
        if typed:
            labels = type_labels(det, [UNTYPED] * len(det))
            classes = [str(t) or UNTYPED for t in det.data[CELL_TYPE]]
        pad = max(2, thick)
        sizes = []
        for t in labels:
            w, h, base = _text_size(t, scale, thick)
            sizes.append((w + 2 * pad, h + base + 2 * pad))
        for (x1, y1, x2, y2), c in zip(det.xyxy.round().astype(int), classes, strict=True):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour(c, blast_class), box_thick)
        for t, c, (x1, y1, x2, y2) in zip(labels, classes, place_labels(det.xyxy, sizes, (H, W)), strict=True):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour(c, blast_class), -1)
            _, h, base = _text_size(t, scale, thick)
            cv2.putText(canvas, t, (x1 + pad, y2 - pad - base), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    else:
        _empty_mark(canvas, scale, thick)
    head = _wrap([p for p, _ in _summary_parts(summary, len(det))]
                 + (banner_parts(differential) if differential is not None else []), W - 8, scale * 1.1, thick)
    flagged = summary is not None and (summary.flagged or summary.leukocytes == 0)
    banner = _strip([(t, FLAG_RGB if (flagged and ("FLAG" in t or "NO LEUK" in t)) or "WARNING" in t
                      else (0, 0, 0)) for t in head],
                    W, scale * 1.1, thick, (245, 245, 245))
    items = [(f"blast (blast probability >= {blast_threshold:g})", BLAST_RGB), ("normal", NORMAL_RGB)]
    items += [(c, OTHER_RGB) for c in sorted(set(classes) - {blast_class, NORMAL})]
    items.append(("label: call + its confidence", None))
    if differential is not None:
        items = legend_items(differential)
    legend = _legend(items, W, scale, thick)
    parts = [banner, legend, canvas]
    if footer:
        lines = _wrap(list(footer), W - 8, scale * 0.8, max(1, thick - 1), sep="; ")
        parts.append(_strip([(t, (40, 40, 40)) for t in lines], W, scale * 0.8, max(1, thick - 1),
                            (230, 230, 230)))
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


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


__all__ = ["annotate", "call_confidence", "cell_labels", "place_labels"]
