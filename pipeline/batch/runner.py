"""Run the pipeline over files and folders; per-slide outputs, a manifest, one batch report.

Identity: each slide is keyed by its input path relative to the batch root (``--root``,
else the deepest folder holding every input), e.g. ``pA/001.jpg``; output names follow
the key (``pA/001_annotated.jpg``), so same-named files in different folders never
collide. Per slide (:func:`process_slide`, the one function that processes a slide and
writes all its outputs): ``<stem>_annotated.jpg|png`` (JPEG for JPEG inputs unless asked
otherwise), ``thumbs/<stem>.jpg``, ``<stem>_cells.csv``, ``<stem>_cells.json`` (cells,
summary, units, source hash, provenance) and, with ``save_txt``, ``labels/<stem>.txt``.

Resume: ``manifest.json`` records every finished slide (source path and hash, outputs,
summary) and the settings it was made with. Re-running with the same output folder
skips finished slides whose input is unchanged; ``summary.csv``, ``summary.json``,
``report.html`` and the exports cover every slide in the manifest. Other settings in the
same folder are an error unless ``overwrite`` (which redoes the given slides and drops
entries made with other settings). Every file is written atomically; inputs are only read. A slide's files appear all
together or not at all (staged, then moved), the output folder is locked for the run
(:mod:`leukoscan.pipeline.batch.outputs`), and folders are searched as in :mod:`leukoscan.pipeline.batch.inputs`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from leukoscan.encode import csv_row, short_path
from leukoscan.errors import BadInputError, ConfigError
from leukoscan.io import (
    IMAGE_SUFFIXES,
    MIN_SIDE,
    atomic_write_json,
    atomic_write_text,
    load_image,
    sha256_file,
    write_image,
)
from leukoscan.pipeline.batch.inputs import expand_inputs
from leukoscan.pipeline.batch.outputs import MANIFEST, locked_out_dir, slide_outputs
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.provenance import (
    model_warnings,
    provenance,
    provenance_lines,
    settings_key,
)
from leukoscan.pipeline.report import (
    differential,
    export_labels,
    gallery,
    report_html,
    slide_report,
)
from leukoscan.pipeline.report.summary import SlideRules, SlideSummary, summarize
from leukoscan.schema import NORMAL

MANIFEST_FORMAT = "leukoscan-batch-manifest/1"
SUMMARY_FIELDS = [
    "image",
    "source",
    "width",
    "height",
    "leukocytes",
    "blasts",
    "blast_pct",
    "ci95_lo",
    "ci95_hi",
    "flagged",
    "call_by",
    "annotated",
    "cells_csv",
]


@dataclass(frozen=True)
class OutputOptions:
    image_format: str = "auto"  # auto: JPEG for JPEG inputs, PNG otherwise; or "jpg" / "png"
    jpeg_quality: int = 90
    save_txt: bool = False  # YOLO-format labels/<stem>.txt (class x_c y_c w h, normalised)
    save_conf: bool = False  # ... with the detector score as a sixth column


@dataclass(frozen=True)
class SlideJob:
    source: Path  # the input file
    key: str  # its path relative to the batch root (posix), the row key
    stem: str  # output name stem (may contain sub-folders), unique in the output folder


@dataclass
class BatchResult:
    out_dir: Path
    summaries: list[SlideSummary] = field(default_factory=list)  # slides processed now
    skipped: list[str] = field(default_factory=list)  # keys already done (manifest)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (input path, reason)
    records: list[dict[str, Any]] = field(default_factory=list)  # every slide the report covers
    provenance: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> ms detect/classify/write

    @property
    def ok(self) -> bool:
        return not self.failures


def batch_root(inputs: Iterable[str | Path], root: str | Path | None = None) -> Path:
    """``root`` as given, else the deepest folder holding every input (a folder input counts itself)."""
    if root is not None:
        return _abs(root)
    dirs = [str(_abs(p) if Path(p).is_dir() else _abs(p).parent) for p in inputs]
    return Path(os.path.commonpath(dirs)) if dirs else Path.cwd()


def _abs(path: str | Path) -> Path:
    """Absolute and normalised, symlinks kept (a linked slide is keyed where it was given)."""
    return Path(os.path.abspath(path))


def slide_key(path: Path, root: Path) -> str:
    try:
        return _abs(path).relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(f"{path} is not under the batch root {root} (--root)") from None


def _unique(stem: str, used: set[str]) -> str:
    out, i = stem, 2
    while out in used:
        out, i = f"{stem}_{i}", i + 1
    used.add(out)
    return out


def output_paths(job: SlideJob, source_suffix: str, opts: OutputOptions) -> dict[str, str]:
    """Output files of a slide, relative to the output folder."""
    fmt = opts.image_format.lower().lstrip(".")
    if fmt == "auto":
        fmt = "jpg" if source_suffix.lower() in (".jpg", ".jpeg") else "png"
    if fmt not in ("jpg", "jpeg", "png"):
        raise ConfigError(f"image format must be auto, jpg or png, not {opts.image_format!r}")
    out = {
        "annotated": f"{job.stem}_annotated.{fmt}",
        "thumb": f"thumbs/{job.stem}.jpg",
        "cells_csv": f"{job.stem}_cells.csv",
        "cells_json": f"{job.stem}_cells.json",
    }
    if opts.save_txt:
        out["labels_txt"] = f"labels/{job.stem}.txt"
    return out


def _yolo_txt(rows: list[dict[str, Any]], hw: tuple[int, int], classes: list[str], save_conf: bool) -> str:
    h, w = hw
    lines = []
    for r in rows:
        xc, yc = (r["x1_px"] + r["x2_px"]) / 2 / w, (r["y1_px"] + r["y2_px"]) / 2 / h
        bw, bh = (r["x2_px"] - r["x1_px"]) / w, (r["y2_px"] - r["y1_px"]) / h
        cls = classes.index(r["cell_class"]) if r["cell_class"] in classes else len(classes)
        conf = f" {r['det_score']:.4f}" if save_conf and r.get("det_score") is not None else ""
        lines.append(f"{cls} {xc:.6f} {yc:.6f} {bw:.6f} {bh:.6f}{conf}")
    return "".join(x + "\n" for x in lines)


def cell_classes(pipeline: Pipeline) -> list[str]:
    """Class list of the exports and ``labels/*.txt``: the blast class, then normal."""
    return [pipeline.cfg.blast_class, NORMAL]


def process_slide(
    pipeline: Pipeline,
    job: SlideJob,
    out_dir: Path,
    *,
    rules: SlideRules | None = None,
    options: OutputOptions | None = None,
    prov: dict[str, Any] | None = None,
    max_pixels: int | None = None,
    timing: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Run the pipeline on one slide and write all its outputs; return its manifest record.
    ``timing``, when given, receives the milliseconds spent: detect, classify, write.

    All files are staged and moved into ``out_dir`` together at the end (none on failure).
    Raises :class:`~leukoscan.errors.BadInputError` for an unreadable or refused input.
    """
    opts = options or OutputOptions()
    rules = rules or SlideRules()
    prov = prov if prov is not None else provenance(pipeline, rules=rules)
    loaded = load_image(job.source, max_pixels=max_pixels, min_side=MIN_SIDE)
    image = loaded.array
    t0 = time.perf_counter()
    if hasattr(pipeline, "detect") and hasattr(pipeline, "classify"):
        det = pipeline.detect(image)
        t1 = time.perf_counter()
        det = pipeline.classify(image, det)
        if hasattr(pipeline, "add_types"):  # the type stage (differential), timed with classification
            det = pipeline.add_types(image, det)
    else:
        det = pipeline(image)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    with slide_outputs(out_dir) as stage:
        rec = _write_slide(pipeline, job, stage, image, det, loaded.notes, rules, opts, prov)
    if timing is not None:  # not in the record: the manifest holds results, not how long they took
        timing.update(
            detect=round(1000 * (t1 - t0), 1),
            classify=round(1000 * (t2 - t1), 1),
            write=round(1000 * (time.perf_counter() - t2), 1),
        )
    return rec


def _write_slide(
    pipeline: Pipeline,
    job: SlideJob,
    out_dir: Path,
    image: Any,
    det: Any,
    notes: Any,
    rules: SlideRules,
    opts: OutputOptions,
    prov: dict[str, Any],
) -> dict[str, Any]:
    cfg = pipeline.cfg
    summary = summarize(
        det,
        image=job.key,
        image_hw=image.shape[:2],
        rules=rules,
        blast_class=cfg.blast_class,
        call_by=pipeline.call_by,
        blast_threshold=cfg.blast_threshold,
    )
    outputs = output_paths(job, job.source.suffix, opts)
    source = {"key": job.key, "path": str(_abs(job.source)), "sha256": sha256_file(job.source)}
    rows = slide_report.cell_rows(
        det, blast_class=cfg.blast_class, blast_threshold=cfg.blast_threshold, uncertain_band=rules.uncertain_band
    )
    diff = differential.from_detections(det)  # None unless the type stage ran
    diff_d = None if diff is None else diff.to_dict()
    slide_report.write_cells(
        rows,
        out_dir / outputs["cells_csv"],
        out_dir / outputs["cells_json"],
        summary,
        provenance=prov,
        source=source,
        notes=notes,
        differential=diff_d,
    )
    footer = provenance_lines(prov)
    kw = {
        "summary": summary,
        "blast_class": cfg.blast_class,
        "blast_threshold": cfg.blast_threshold,
        "quality": opts.jpeg_quality,
        "warnings": model_warnings(prov),
        "uncertain_band": rules.uncertain_band,
        "differential": diff,
    }
    slide_report.save_annotated(out_dir / outputs["annotated"], image, det, footer=footer, **kw)
    slide_report.save_annotated(out_dir / outputs["thumb"], image, det, max_side=480, **kw)
    sheet = gallery.crop_sheet(image, det.xyxy, margin=cfg.margin) if len(det) else None
    if sheet is not None:  # the review gallery of report.html (cells in cell_id order)
        outputs["crops"] = f"crops/{job.stem}.jpg"
        write_image(out_dir / outputs["crops"], sheet, quality=opts.jpeg_quality)
    if opts.save_txt:
        atomic_write_text(
            out_dir / outputs["labels_txt"], _yolo_txt(rows, image.shape[:2], cell_classes(pipeline), opts.save_conf)
        )
    rec = {
        "key": job.key,
        "source": source["path"],
        "sha256": source["sha256"],
        "stem": job.stem,
        "outputs": outputs,
        "summary": summary.to_dict(),
        "processed": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if diff_d is not None:
        rec["differential"] = diff_d
    return rec


def load_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if doc.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path}: not a LeukoScan batch manifest ({doc.get('format')!r}); use another --out")
    for rec in doc["slides"].values():  # summaries as this version writes them (SlideSummary.from_dict)
        rec["summary"] = SlideSummary.from_dict(rec["summary"]).to_dict()
    return doc


def start_manifest(out_dir: Path, prov: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    key = settings_key(prov)
    old = load_manifest(out_dir)
    if old is not None and old.get("settings") != key:
        if not overwrite:
            diff = sorted(k for k in key if old.get("settings", {}).get(k) != key[k])
            raise ConfigError(
                f"{out_dir} holds results made with other settings ({', '.join(diff)} differ); "
                "use another --out, or --overwrite to redo the given slides with these settings"
            )
        old = None
    doc = old or {"format": MANIFEST_FORMAT, "slides": {}}
    doc.update(settings=key, provenance=prov)
    return doc


def plan(
    files: list[Path], root: Path, manifest: dict[str, Any], out_dir: Path, overwrite: bool
) -> tuple[list[SlideJob], list[str]]:
    """Jobs to run and keys to skip. A source already in the manifest keeps its key and stem;
    it is skipped when its hash is unchanged, its outputs exist and not ``overwrite``."""
    slides = manifest["slides"]
    by_source = {rec["source"]: rec for rec in slides.values()}
    used = {rec["stem"] for rec in slides.values()}
    jobs, skipped = [], []
    for path in files:
        rec = by_source.get(str(_abs(path)))
        if rec is not None:
            done = all((out_dir / p).is_file() for p in rec["outputs"].values())
            if not overwrite and done and rec["sha256"] == sha256_file(path):
                skipped.append(rec["key"])
            else:
                jobs.append(SlideJob(path, rec["key"], rec["stem"]))
            continue
        key = slide_key(path, root)
        while key in slides:  # same relative path from another root: keep both
            key = f"{key}~{len(slides)}"
        jobs.append(SlideJob(path, key, _unique(short_path(str(Path(key).with_suffix(""))), used)))
    return jobs, skipped


def plan_inputs(
    inputs: list[str | Path],
    out_dir: Path,
    manifest: dict[str, Any],
    *,
    root: str | Path | None,
    overwrite: bool,
    recursive: bool,
) -> tuple[list[SlideJob], list[str], list[tuple[str, str]]]:
    """Inputs -> (jobs to run, keys already done, failures: missing paths, unsupported files)."""
    files, failures = expand_inputs(inputs, recursive=recursive)
    bad = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    failures += [(str(p), f"unsupported file type {p.suffix!r}") for p in bad]
    jobs, skipped = plan([p for p in files if p not in bad], batch_root(inputs, root), manifest, out_dir, overwrite)
    return jobs, skipped, failures


def run_batch(
    pipeline: Pipeline,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    rules: SlideRules | None = None,
    root: str | Path | None = None,
    options: OutputOptions | None = None,
    overwrite: bool = False,
    recursive: bool = True,
    max_pixels: int | None = None,
    on_slide: Callable[[dict[str, Any], dict[str, float]], None] | None = None,
) -> BatchResult:
    """Process every input not already done in ``out_dir``; a bad file is a failure, skipped.

    ``out_dir`` is locked for the run (a second run there is refused). ``on_slide(record, ms)`` is
    called as each slide finishes (its manifest record; milliseconds for detect, classify, write);
    the times of every slide processed are also in ``BatchResult.timings``.
    """
    with locked_out_dir(out_dir) as out:
        return _run_batch(
            pipeline,
            list(inputs),
            out,
            rules or SlideRules(),
            root,
            options,
            overwrite,
            recursive,
            max_pixels,
            on_slide,
        )


def _run_batch(
    pipeline: Pipeline,
    inputs: list[str | Path],
    out_dir: Path,
    rules: SlideRules,
    root: str | Path | None,
    options: OutputOptions | None,
    overwrite: bool,
    recursive: bool,
    max_pixels: int | None,
    on_slide: Callable[[dict[str, Any], dict[str, float]], None] | None = None,
) -> BatchResult:
    prov = provenance(pipeline, rules=rules)
    manifest = start_manifest(out_dir, prov, overwrite)
    write_manifest(out_dir, manifest)  # marks the folder as LeukoScan's before any slide lands in it
    jobs, skipped, failures = plan_inputs(
        inputs, out_dir, manifest, root=root, overwrite=overwrite, recursive=recursive
    )
    result = BatchResult(out_dir, skipped=skipped, failures=failures, provenance=prov)
    out_dir.mkdir(parents=True, exist_ok=True)
    for job in tqdm(jobs, desc="slides", unit="img", disable=len(jobs) < 2):
        try:
            ms: dict[str, float] = {}
            rec = process_slide(
                pipeline, job, out_dir, rules=rules, options=options, prov=prov, max_pixels=max_pixels, timing=ms
            )
        except BadInputError as e:
            result.failures.append((str(job.source), str(e)))
            continue
        except OSError as e:  # disk full, a name the file system refuses: this slide fails, the batch goes on
            result.failures.append((str(job.source), f"cannot write its outputs ({slide_os_error(e)})"))
            continue
        manifest["slides"][job.key] = rec
        result.summaries.append(SlideSummary.from_dict(rec["summary"]))
        write_manifest(out_dir, manifest)
        result.timings[job.key] = ms
        if on_slide is not None:
            on_slide(rec, ms)
    write_manifest(out_dir, manifest)
    result.records = finish_batch(out_dir, manifest, result.failures, cell_classes(pipeline))
    return result


def slide_os_error(e: OSError) -> str:
    """An OSError while writing a slide's outputs, as the one-line reason of its failure."""
    return f"{e.strerror or type(e).__name__}" + (f": {Path(e.filename).name[:60]}" if e.filename else "")


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(out_dir / MANIFEST, manifest)


def _summary_csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    diffs = [r.get("differential") for r in records]
    types = differential.csv_types(diffs) if any(d is not None for d in diffs) else None
    w.writerow(SUMMARY_FIELDS + ([] if types is None else differential.csv_fields(types)))
    for r in records:
        s = r["summary"]
        lo, hi = s["blast_pct_ci95"]
        w.writerow(
            csv_row(
                [
                    r["key"],
                    r["source"],
                    s["width"],
                    s["height"],
                    s["leukocytes"],
                    s["blasts"],
                    s["blast_pct"],
                    lo,
                    hi,
                    int(s["flagged"]),
                    s.get("call_by") or "",
                    r["outputs"]["annotated"],
                    r["outputs"]["cells_csv"],
                ]
                + ([] if types is None else differential.csv_values(r.get("differential"), types))
            )
        )
    return buf.getvalue()


def finish_batch(
    out_dir: Path, manifest: dict[str, Any], failures: list[tuple[str, str]], classes: list[str]
) -> list[dict[str, Any]]:
    """Write ``summary.csv``, ``summary.json``, ``report.html`` and ``exports/`` for every slide
    in ``manifest``; return its records sorted by key."""
    records = sorted(manifest["slides"].values(), key=lambda r: r["key"])
    prov = manifest["provenance"]
    cells = {r["key"]: json.loads((out_dir / r["outputs"]["cells_json"]).read_text())["cells"] for r in records}
    atomic_write_text(out_dir / "summary.csv", _summary_csv(records))
    totals = report_html.totals(records, len(failures))
    pool = differential.pooled(r.get("differential") for r in records)
    if pool is not None:  # the type stage ran: every slide's cells counted together
        totals["differential"] = pool.to_dict()
    atomic_write_json(
        out_dir / "summary.json",
        {
            "provenance": prov,
            "totals": totals,
            "slides": [
                {
                    **r["summary"],
                    "source": r["source"],
                    "sha256": r["sha256"],
                    "outputs": r["outputs"],
                    **({"differential": r["differential"]} if "differential" in r else {}),
                }
                for r in records
            ],
            "failures": [{"input": p, "error": m} for p, m in failures],
        },
    )
    report_html.write_report(out_dir / "report.html", records, failures, prov, provenance_lines(prov), cells)
    export_labels.write_exports(out_dir / "exports", records, cells, classes)
    return records
