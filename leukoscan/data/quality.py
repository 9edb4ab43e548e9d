"""Data-quality report: every problem found while converting, with counts and file names.

Box rules (applied by :func:`clean_boxes`, used by every detection converter):

- ``unknown_label``: a class name not in the dataset's names -> object dropped.
- ``degenerate_box``: zero or negative extent in the file's own coordinates
  (VOC ``xmax <= xmin`` or ``ymax <= ymin``; YOLO/COCO ``w <= 0`` or ``h <= 0``) -> dropped.
- ``out_of_bounds``: a box reaching outside ``[0, W] x [0, H]`` -> clipped to the image
  when at least half of its area stays inside and the clipped box is >= 1 px wide and
  high (action ``clipped``); otherwise dropped (action ``dropped``). A box with no overlap
  at all with the image means the annotation does not belong to that image: that is an
  error (``DataError`` naming the file), not a quality issue.
  Boxes exceeding the image by <= 0.5 px (coordinate rounding) are clipped and only
  counted (one note in the report).
- ``duplicate_box``: the same label with the same coordinates twice in one image ->
  one kept, the copies dropped.
- ``no_objects``: an image without any (remaining) object -> kept as a background image.

Nothing is changed silently: each rule writes one entry per object into the report.
Unreadable files (images, XML, label files) are not "quality issues": they raise
:class:`~leukoscan.errors.DataError` naming the file, and no output is written.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.errors import DataError

SUBPIXEL = 0.5  # px: boxes exceeding the image by at most this are rounding noise

RULES = {
    "unknown_label": "object dropped",
    "degenerate_box": "object dropped (zero or negative width/height)",
    "out_of_bounds": "clipped to the image if >= 50% of the box is inside and >= 1 px remains, else dropped",
    "duplicate_box": "exact copies dropped, one kept",
    "no_objects": "image kept as a background image (empty label file)",
}


@dataclass
class QualityReport:
    """Collects issues, notes and counts during one conversion; ``to_dict`` -> report.json."""

    dataset: str
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> n
    images: dict[str, int] = field(default_factory=dict)  # split -> n images
    extra: dict[str, Any] = field(default_factory=dict)
    subpixel_clipped: int = 0

    def add(self, kind: str, file: str, detail: str = "", action: str = "") -> None:
        self.issues[kind].append({"file": file, "detail": detail, "action": action})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def count(self, split: str, labels: list[str], n_images: int) -> None:
        self.counts[split] = dict(sorted(Counter(labels).items()))
        self.images[split] = n_images

    def issue_counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in sorted(self.issues.items())}

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "images": self.images,
            "objects": self.counts,
            "issue_counts": self.issue_counts(),
            "issues": {k: v for k, v in sorted(self.issues.items())},
            "rules": {k: RULES[k] for k in self.issues if k in RULES},
            "notes": self.notes
            + (
                [
                    f"{self.subpixel_clipped} box(es) exceeded the image by <= {SUBPIXEL} px "
                    "(coordinate rounding) and were clipped"
                ]
                if self.subpixel_clipped
                else []
            ),
            **self.extra,
        }

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def summary(self, max_files: int = 5) -> str:
        return format_summary(self.to_dict(), max_files)


def format_summary(rep: dict[str, Any], max_files: int = 5) -> str:
    """Human-readable lines from a report dict: images/objects per split, each issue with files."""
    lines = [f"dataset {rep['dataset']}"]
    for split, n in rep.get("images", {}).items():
        objs = ", ".join(f"{k} {v}" for k, v in rep.get("objects", {}).get(split, {}).items())
        lines.append(f"  {split}: {n} images" + (f"; {objs}" if objs else ""))
    issues = rep.get("issues", {})
    if not issues:
        lines.append("  data quality: no issues found")
    for kind, items in sorted(issues.items()):
        files = sorted({it["file"] for it in items})
        shown = ", ".join(files[:max_files])
        if len(files) > max_files:
            shown += f", ... (+{len(files) - max_files})"
        actions = Counter(it["action"] for it in items if it["action"])
        act = "; ".join(f"{a}: {n}" for a, n in actions.items())
        lines.append(f"  {kind}: {len(items)} in {len(files)} file(s) [{act}]: {shown}")
    lines += [f"  note: {n}" for n in rep.get("notes", [])]
    return "\n".join(lines)


def clean_boxes(
    file: str,
    boxes: np.ndarray,
    labels: list[str],
    image_wh: tuple[int, int],
    names: list[str],
    report: QualityReport,
    *,
    degenerate: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Apply the documented rules to ``boxes`` (N, 4) xyxy pixels; return the kept ones.

    ``degenerate`` optionally flags boxes judged degenerate in the file's own coordinates
    (e.g. VOC ``xmax <= xmin``); by default a box is degenerate when ``x2 <= x1`` or ``y2 <= y1``.
    """
    w, h = image_wh
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if degenerate is None:
        degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    keep_b: list[np.ndarray] = []
    keep_l: list[str] = []
    seen: set[tuple] = set()
    for b, lab, deg in zip(boxes, labels, degenerate, strict=True):
        desc = f"{lab} [{', '.join(f'{v:g}' for v in b)}]"
        if not np.isfinite(b).all():
            raise DataError(f"{file}: box {desc} has non-finite (NaN/inf) coordinates")
        if lab not in names:
            report.add("unknown_label", file, f"{lab!r} not in {names}", "dropped")
            continue
        if deg:
            report.add("degenerate_box", file, desc, "dropped")
            continue
        key = (lab, *np.round(b, 3).tolist())
        if key in seen:
            report.add("duplicate_box", file, desc, "dropped")
            continue
        seen.add(key)
        if b[0] >= w or b[1] >= h or b[2] <= 0 or b[3] <= 0:
            raise DataError(
                f"{file}: box {desc} lies entirely outside the {w}x{h} image (annotation does not match the image)"
            )
        excess = max(-b[0], -b[1], b[2] - w, b[3] - h)
        if 0 < excess <= SUBPIXEL:  # rounding noise (e.g. normalised YOLO coordinates)
            b = np.array([max(b[0], 0), max(b[1], 0), min(b[2], w), min(b[3], h)])
            report.subpixel_clipped += 1
        elif excess > 0:
            c = np.array([max(b[0], 0), max(b[1], 0), min(b[2], w), min(b[3], h)])
            cw, ch = c[2] - c[0], c[3] - c[1]
            area = (b[2] - b[0]) * (b[3] - b[1])
            if cw >= 1 and ch >= 1 and cw * ch >= 0.5 * area:
                report.add("out_of_bounds", file, f"{desc} in {w}x{h} image", "clipped")
                b = c
            else:
                report.add("out_of_bounds", file, f"{desc} in {w}x{h} image", "dropped")
                continue
        keep_b.append(b)
        keep_l.append(lab)
    if not keep_b:
        report.add("no_objects", file, "", "kept as background")
    return np.asarray(keep_b, np.float64).reshape(-1, 4), keep_l
