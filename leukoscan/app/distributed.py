"""Batch inference on a Ray cluster (Ray Data): the outputs of :func:`~leukoscan.app.batch.run_batch`.

The driver plans the batch exactly as the single-process run does
(:func:`~leukoscan.app.batch.plan_batch`: same files, order and output stems) and streams
the slides through ``Dataset.map_batches`` over an actor pool. Each actor
(:class:`SlideWorker`) loads the pipeline once (one GPU per actor with ``device="cuda"``,
``cpus_per_worker`` CPU threads otherwise) and, per slide, reads the image, runs
:func:`~leukoscan.app.batch.process_image` into a private staging folder, moves the files
into place (each move atomic) and then writes the slide's done-record
``<out>/.slides/<stem>.json`` (atomic). The record is the commit: at the end the driver
merges the records into ``summary.csv``, ``summary.json`` and ``report.html``
(:func:`~leukoscan.app.batch.write_batch`), byte for byte what the single-process run writes.

Resume and failures (same ``out_dir`` again):

- a slide with an ``ok`` record for the same input file (path, size, mtime) is skipped;
- every slide is tried at most twice in all: a Python error other than an unreadable image
  is retried at once; a slide that failed in an earlier run is retried once on the next;
  after two failed tries it is reported from its record without running again;
- a worker process that dies is restarted by Ray and its slide retried once; a slide
  whose worker died twice is reported as a failure (the batch goes on). A worker killed
  mid-slide leaves no partial file: its staging folder is removed at the next start and
  the slide, having no record, is processed again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leukoscan.app import report
from leukoscan.app.batch import BatchResult, plan_batch, process_image, unsupported, write_batch
from leukoscan.app.pipeline import Pipeline
from leukoscan.device import set_cpu_threads
from leukoscan.errors import ConfigError
from leukoscan.io import ImageReadError, atomic_write_json

STATE_DIR = ".slides"  # per-slide done-records (and staging folders) inside out_dir
MAX_TRIES = 2
DIED = "worker died while processing this slide"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray; "auto": the running cluster; "ray://host:10001"
    device: str = "cpu"  # "cpu" or "cuda" (one GPU per actor)
    workers: int | None = None  # actors; default: cluster CPUs // cpus_per_worker (GPUs with cuda)
    cpus_per_worker: int = 1


def _input_id(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"input": str(path.absolute()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _record_path(out_dir: Path, stem: str) -> Path:
    return out_dir / STATE_DIR / f"{stem}.json"


def read_record(out_dir: Path, stem: str, path: Path) -> dict[str, Any] | None:
    """The done-record of ``stem`` when it belongs to this input file (else None)."""
    rec_file = _record_path(out_dir, stem)
    if not rec_file.is_file() or not path.is_file():
        return None
    rec = json.loads(rec_file.read_text())
    return rec if all(rec.get(k) == v for k, v in _input_id(path).items()) else None


def _publish(staging: Path, out_dir: Path) -> None:
    """Move every file of ``staging`` to the same relative place under ``out_dir`` (os.replace)."""
    for src in sorted(p for p in staging.rglob("*") if p.is_file()):
        dst = out_dir / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def process_slide(pipeline: Pipeline, path: Path, out_dir: Path, stem: str, threshold_pct: float,
                  tries: int = 0) -> dict[str, Any]:
    """Process one slide into ``out_dir`` and write its done-record; returns the record.

    ``tries``: failed tries in earlier runs. An unreadable image fails at once (with the
    single-process message); any other error is retried while tries < MAX_TRIES.
    """
    rec: dict[str, Any] = {**_input_id(path), "stem": stem}
    t0 = time.perf_counter()
    while True:
        tries += 1
        staging = out_dir / STATE_DIR / "staging" / f"{stem}.{uuid.uuid4().hex[:8]}"
        try:
            summary = process_image(pipeline, path, staging, stem, threshold_pct)
            _publish(staging, out_dir)
            rec.update(status="ok", summary=summary.to_dict(), error=None)
        except ImageReadError as e:
            rec.update(status="failed", summary=None, error=str(e))
        except Exception as e:  # noqa: BLE001 - one slide's bug must not end a cohort run
            rec.update(status="failed", summary=None, error=f"{type(e).__name__}: {e}")
            if tries < MAX_TRIES:
                continue
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        rec.update(tries=tries, seconds=round(time.perf_counter() - t0, 4), finished_at=time.time())
        atomic_write_json(_record_path(out_dir, stem), rec)
        return rec


class SlideWorker:
    """Ray Data actor: loads the pipeline once, then processes batches of ``{path, stem, tries}`` rows."""

    def __init__(self, factory: Callable[[], Pipeline], out_dir: str, threshold_pct: float, device: str,
                 threads: int) -> None:
        set_cpu_threads(threads)
        self.pipeline = factory()
        if device != "cpu":
            self.pipeline.to("cuda:0")  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU
        if hasattr(self.pipeline.detector, "threads"):
            self.pipeline.detector.threads = threads  # ultralytics resets torch threads per call
        self.out_dir, self.threshold_pct = Path(out_dir), threshold_pct

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        stems, status = [], []
        for path, stem, tries in zip(batch["path"], batch["stem"], batch["tries"], strict=True):
            rec = process_slide(self.pipeline, Path(str(path)), self.out_dir, str(stem), self.threshold_pct,
                                int(tries))
            stems.append(rec["stem"])
            status.append(rec["status"])
        return {"stem": stems, "status": status}


def _summary(d: dict[str, Any]) -> report.SlideSummary:
    return report.SlideSummary(**{**d, "blast_pct_ci95": tuple(d["blast_pct_ci95"])})


def _connect(address: str | None) -> bool:
    """Connect to (or start) Ray; True when this call started it (and must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, logging_level="WARNING",
             log_to_driver=False)
    return True


def _pool_size(opts: RayOptions) -> int:
    import ray

    if opts.workers:
        return int(opts.workers)
    res = ray.cluster_resources()
    if opts.device != "cpu":
        n = int(res.get("GPU", 0))
        if n == 0:
            raise ConfigError("--device cuda: the Ray cluster has no GPUs (ray status shows its resources)")
        return n
    return max(1, int(res.get("CPU", 1)) // opts.cpus_per_worker)


def _run_pool(todo: list[dict[str, Any]], factory: Callable[[], Pipeline], out_dir: Path,
              threshold_pct: float, opts: RayOptions, progress: bool) -> None:
    import ray
    from tqdm import tqdm

    ctx = ray.data.DataContext.get_current()
    ctx.max_errored_blocks = -1  # a slide whose worker died twice is reported, the rest goes on
    ctx.enable_progress_bars = False
    n = min(_pool_size(opts), len(todo))
    ds = ray.data.from_items(todo, override_num_blocks=len(todo))
    gpu = opts.device != "cpu"
    ds = ds.map_batches(
        SlideWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=n),
        fn_constructor_kwargs={"factory": factory, "out_dir": str(out_dir), "threshold_pct": threshold_pct,
                               "device": opts.device, "threads": opts.cpus_per_worker},
        num_cpus=opts.cpus_per_worker, num_gpus=1 if gpu else 0,
        max_restarts=MAX_TRIES - 1, max_task_retries=MAX_TRIES - 1)
    for _ in tqdm(ds.iter_rows(), total=len(todo), desc=f"slides ({n} Ray workers)", unit="img",
                  disable=not progress):
        pass


def run_batch_ray(factory: Callable[[], Pipeline], inputs: Iterable[str | Path], out_dir: str | Path, *,
                  threshold_pct: float = 20.0, options: RayOptions | None = None,
                  progress: bool = True) -> BatchResult:
    """:func:`~leukoscan.app.batch.run_batch` on Ray; ``factory()`` builds the pipeline in each worker.

    ``factory`` must be picklable (e.g. ``functools.partial(load_pipeline, det, clf, cfg)``
    with absolute paths); ``out_dir`` must be visible to every node (shared storage).
    Returns the same :class:`~leukoscan.app.batch.BatchResult`; ``skipped`` counts the
    slides finished by an earlier run.
    """
    opts = options or RayOptions()
    out_dir = Path(out_dir).absolute()
    plan, failures = plan_batch(inputs)
    shutil.rmtree(out_dir / STATE_DIR / "staging", ignore_errors=True)  # left by dead workers
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for path, stem in plan:
        rec = read_record(out_dir, stem, path) if stem else None
        if rec is not None and (rec["status"] == "ok" or rec["tries"] >= MAX_TRIES):
            records[stem] = rec
        elif stem is not None:
            todo.append({"path": str(path), "stem": stem, "tries": rec["tries"] if rec else 0})
    skipped = len(records)
    if todo:
        started = _connect(opts.address)
        try:
            t0 = time.time()
            _run_pool(todo, factory, out_dir, threshold_pct, opts, progress)
            shutil.rmtree(out_dir / STATE_DIR / "staging", ignore_errors=True)
            if progress:
                print(f"{len(todo)} slides in {time.time() - t0:.1f}s on Ray ({skipped} already done)")
        finally:
            if started:
                import ray

                ray.shutdown()
    result = _merge(plan, failures, out_dir)
    result.skipped = skipped
    return result


def _merge(plan: list[tuple[Path, str | None]], failures: list[tuple[str, str]], out_dir: Path) -> BatchResult:
    """Records -> BatchResult in plan order (as run_batch builds it) + summary files and report."""
    result = BatchResult(out_dir, failures=list(failures))
    stems = []
    for path, stem in plan:
        if stem is None:
            result.failures.append((str(path), unsupported(path)))
            continue
        rec = read_record(out_dir, stem, path)
        if rec is None:  # no record after the run: its worker died on both tries
            rec = {**_input_id(path), "stem": stem, "status": "failed", "summary": None,
                   "error": f"{DIED} ({MAX_TRIES} tries)", "tries": MAX_TRIES}
            atomic_write_json(_record_path(out_dir, stem), rec)
        if rec["status"] == "ok":
            result.summaries.append(_summary(rec["summary"]))
            stems.append(stem)
        else:
            result.failures.append((str(path), rec["error"]))
    write_batch(result, stems)
    return result


__all__ = ["RayOptions", "SlideWorker", "process_slide", "read_record", "run_batch_ray"]
