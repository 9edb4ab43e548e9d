"""Run the pipeline over files and folders; write per-image outputs and one HTML report.

Per image ``<stem>``: ``<stem>.png`` (annotated), ``<stem>_cells.csv``, ``<stem>_cells.json``
(cells + summary). For the batch: ``summary.csv``, ``summary.json``, ``report.html``
(thumbnails in ``thumbs/``). Every file is written atomically; inputs are only read.
A slide's files appear all together or not at all, and the output folder is locked for
the run (:mod:`leukoscan.app.outputs`); folders are searched as in :mod:`leukoscan.app.inputs`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from leukoscan.app import report
from leukoscan.app.inputs import expand_inputs
from leukoscan.app.outputs import locked_out_dir, slide_outputs
from leukoscan.app.pipeline import Pipeline
from leukoscan.errors import BadInputError
from leukoscan.io import (
    IMAGE_SUFFIXES,
    MIN_SIDE,
    atomic_write_json,
    atomic_write_text,
    load_image,
)


@dataclass
class BatchResult:
    out_dir: Path
    summaries: list[report.SlideSummary] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input path, reason)

    @property
    def ok(self) -> bool:
        return not self.failures


def _unique_stem(path: Path, used: set[str]) -> str:
    stem, i = path.stem, 2
    while stem in used:
        stem, i = f"{path.stem}_{i}", i + 1
    used.add(stem)
    return stem


def _summary_csv(summaries: list[report.SlideSummary]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["image", "width", "height", "leukocytes", "blasts", "blast_pct", "ci95_lo", "ci95_hi",
                "flagged"])
    for s in summaries:
        w.writerow([s.image, s.width, s.height, s.leukocytes, s.blasts, s.blast_pct, *s.blast_pct_ci95,
                    int(s.flagged)])
    return buf.getvalue()


def process_image(pipeline: Pipeline, path: Path, out_dir: Path, stem: str, threshold_pct: float,
                  max_pixels: int | None = None) -> report.SlideSummary:
    loaded = load_image(path, max_pixels=max_pixels, min_side=MIN_SIDE)
    image = loaded.array
    det = pipeline(image)
    summary = report.summarize(det, image=path.name, image_hw=image.shape[:2],
                               threshold_pct=threshold_pct, blast_class=pipeline.cfg.blast_class)
    report.write_cells(report.cell_rows(det), out_dir / f"{stem}_cells.csv",
                       out_dir / f"{stem}_cells.json", summary, notes=loaded.notes)
    blast = pipeline.cfg.blast_class
    report.save_annotated(out_dir / f"{stem}.png", image, det, blast_class=blast)
    report.save_annotated(out_dir / "thumbs" / f"{stem}.jpg", image, det, max_side=480, blast_class=blast)
    return summary


def run_batch(pipeline: Pipeline, inputs: Iterable[str | Path], out_dir: str | Path, *,
              threshold_pct: float = 20.0, recursive: bool = True, max_pixels: int | None = None
              ) -> BatchResult:
    """Process every input; a bad file is recorded in ``failures`` and skipped."""
    with locked_out_dir(out_dir) as out:
        return _run_batch(pipeline, inputs, out, threshold_pct, recursive, max_pixels)


def _run_batch(pipeline: Pipeline, inputs: Iterable[str | Path], out_dir: Path, threshold_pct: float,
               recursive: bool, max_pixels: int | None) -> BatchResult:
    files, failures = expand_inputs(inputs, recursive=recursive)
    result = BatchResult(out_dir, failures=failures)
    entries: list[dict[str, Any]] = []
    used: set[str] = set()
    for path in tqdm(files, desc="slides", unit="img", disable=len(files) < 2):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            result.failures.append((str(path), f"unsupported file type {path.suffix!r}"))
            continue
        stem = _unique_stem(path, used)
        try:
            with slide_outputs(out_dir) as stage:
                summary = process_image(pipeline, path, stage, stem, threshold_pct, max_pixels)
        except BadInputError as e:
            result.failures.append((str(path), str(e)))
            continue
        result.summaries.append(summary)
        entries.append({"summary": summary, "thumb": f"thumbs/{stem}.jpg"})
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "summary.csv", _summary_csv(result.summaries))
    atomic_write_json(out_dir / "summary.json", {
        "slides": [s.to_dict() for s in result.summaries],
        "failures": [{"input": p, "error": m} for p, m in result.failures]})
    report.write_html(out_dir / "report.html", entries, result.failures)
    return result
