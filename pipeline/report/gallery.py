"""The review gallery: one sheet of cell crops per slide, and the order a reviewer reads them in.

``crops/<stem>.jpg`` holds every cell of a slide as a ``CROP_PX`` square crop (15% margin,
as the classifier sees it), ``SHEET_COLS`` per row, cell ``k`` (1-based ``cell_id``) at
column ``(k - 1) % SHEET_COLS``, row ``(k - 1) // SHEET_COLS``. ``report.html`` shows them
sorted by :func:`review_order`: blast probability nearest the call threshold first (the
calls most likely to flip), cells without a blast probability by detector score, lowest first.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from leukoscan.classify.crops import CROP_MARGIN, crop_detections

CROP_PX = 96
SHEET_COLS = 10


def crop_sheet(image: np.ndarray, xyxy: np.ndarray, margin: float = CROP_MARGIN) -> np.ndarray | None:
    """RGB uint8 sheet of the crops of ``xyxy`` ``(N, 4)`` pixel boxes of ``image``; None when N = 0."""
    crops = crop_detections(image, np.asarray(xyxy, float).reshape(-1, 4), margin=margin, size=CROP_PX)
    if not crops:
        return None
    rows = math.ceil(len(crops) / SHEET_COLS)
    sheet = np.full((rows * CROP_PX, min(len(crops), SHEET_COLS) * CROP_PX, 3), 255, np.uint8)
    for k, c in enumerate(crops):
        y, x = (k // SHEET_COLS) * CROP_PX, (k % SHEET_COLS) * CROP_PX
        sheet[y : y + CROP_PX, x : x + CROP_PX] = c
    return sheet


def sheet_offset(cell_id: int) -> tuple[int, int]:
    """``(x, y)`` pixel offset of cell ``cell_id`` (1-based) in its slide's sheet."""
    k = int(cell_id) - 1
    return (k % SHEET_COLS) * CROP_PX, (k // SHEET_COLS) * CROP_PX


def review_order(rows: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Cells rows, most uncertain first (see module docstring); ties keep the cell id order."""

    def key(r: dict[str, Any]) -> tuple[int, float, int]:
        p = r.get("blast_prob")
        if p is None:
            s = r.get("det_score")
            return 1, 1.0 if s is None else float(s), int(r["cell_id"])
        return 0, abs(float(p) - threshold), int(r["cell_id"])

    return sorted(rows, key=key)


__all__ = ["CROP_PX", "SHEET_COLS", "crop_sheet", "review_order", "sheet_offset"]
