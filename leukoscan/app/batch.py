"""Run the pipeline over files and folders; write per-image outputs and one HTML report.

Per image ``<stem>``: ``<stem>.png`` (annotated), ``<stem>_cells.csv``, ``<stem>_cells.json``
(cells + summary). For the batch: ``summary.csv``, ``summary.json``, ``report.html``
(thumbnails in ``thumbs/``). Every file is written atomically; inputs are only read.
Inputs: image files, folders of images, and CSV manifests of image paths.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from leukoscan.app import report
from leukoscan.app.pipeline import Pipeline
from leukoscan.io import (
    IMAGE_SUFFIXES,
    ImageReadError,
    atomic_write_json,
    atomic_write_text,
    read_image,
)


@dataclass
class BatchResult:
    out_dir: Path
    summaries: list[report.SlideSummary] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input path, reason)
    skipped: int = 0  # slides finished by an earlier run into the same folder (Ray engine resume)

    @property
    def ok(self) -> bool:
        return not self.failures


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files as given and image files inside given folders (sorted); missing paths are failures."""
    files: list[Path] = []
    failures: list[tuple[str, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
            if not found:
                failures.append((str(p), "folder has no files"))
            files.extend(found)
        elif p.is_file() and p.suffix.lower() == ".csv":
            listed, missing = read_manifest(p)
            files.extend(listed)
            failures.extend(missing)
        elif p.is_file():
            files.append(p)
        else:
            failures.append((str(p), "no such file or folder"))
    return files, failures


def read_manifest(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image paths listed in a CSV manifest (column ``path``, else the first column).

    Relative paths are taken from the manifest's folder; a listed file that does not exist
    is a failure, like a missing input on the command line.
    """
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], [(str(path), "empty manifest")]
    col = rows[0].index("path") if "path" in rows[0] else 0
    body = rows[1:] if "path" in rows[0] else rows
    files, failures = [], []
    for row in body:
        if len(row) <= col or not row[col].strip():
            continue
        q = Path(row[col].strip())
        q = q if q.is_absolute() else path.parent / q
        if q.is_file():
            files.append(q)
        else:
            failures.append((str(q), "no such file (listed in manifest)"))
    return files, failures


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


def process_image(pipeline: Pipeline, path: Path, out_dir: Path, stem: str, threshold_pct: float
                  ) -> report.SlideSummary:
    image = read_image(path)
    det = pipeline(image)
    summary = report.summarize(det, image=path.name, image_hw=image.shape[:2],
                               threshold_pct=threshold_pct, blast_class=pipeline.cfg.blast_class)
    report.write_cells(report.cell_rows(det), out_dir / f"{stem}_cells.csv",
                       out_dir / f"{stem}_cells.json", summary)
    blast = pipeline.cfg.blast_class
    report.save_annotated(out_dir / f"{stem}.png", image, det, blast_class=blast)
    report.save_annotated(out_dir / "thumbs" / f"{stem}.jpg", image, det, max_side=480, blast_class=blast)
    return summary


def plan_batch(inputs: Iterable[str | Path]) -> tuple[list[tuple[Path, str | None]], list[tuple[str, str]]]:
    """``[(file, stem or None)]`` in processing order (None: unsupported type) + missing inputs.

    The stem names every output of the slide; the same inputs always get the same stems,
    whichever engine processes them (:mod:`leukoscan.app.distributed`).
    """
    files, failures = expand_inputs(inputs)
    used: set[str] = set()
    plan = [(p, _unique_stem(p, used) if p.suffix.lower() in IMAGE_SUFFIXES else None) for p in files]
    return plan, failures


def unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix!r}"


def write_batch(result: BatchResult, stems: list[str]) -> None:
    """``summary.csv``, ``summary.json`` and ``report.html`` for ``result`` (``stems`` per summary)."""
    out_dir = result.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = [{"summary": s, "thumb": f"thumbs/{stem}.jpg"} for s, stem in zip(result.summaries, stems, strict=True)]
    atomic_write_text(out_dir / "summary.csv", _summary_csv(result.summaries))
    atomic_write_json(out_dir / "summary.json", {
        "slides": [s.to_dict() for s in result.summaries],
        "failures": [{"input": p, "error": m} for p, m in result.failures]})
    report.write_html(out_dir / "report.html", entries, result.failures)


def run_batch(pipeline: Pipeline, inputs: Iterable[str | Path], out_dir: str | Path, *,
              threshold_pct: float = 20.0) -> BatchResult:
    """Process every input; a bad file is recorded in ``failures`` and skipped."""
    out_dir = Path(out_dir)
    plan, failures = plan_batch(inputs)
    result = BatchResult(out_dir, failures=failures)
    stems: list[str] = []
    for path, stem in tqdm(plan, desc="slides", unit="img", disable=len(plan) < 2):
        if stem is None:
            result.failures.append((str(path), unsupported(path)))
            continue
        try:
            summary = process_image(pipeline, path, out_dir, stem, threshold_pct)
        except ImageReadError as e:
            result.failures.append((str(path), str(e)))
            continue
        result.summaries.append(summary)
        stems.append(stem)
    write_batch(result, stems)
    return result
