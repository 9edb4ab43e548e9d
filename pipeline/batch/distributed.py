"""Batch inference on a Ray cluster (Ray Data): :func:`~leukoscan.pipeline.batch.runner.run_batch` on many workers.

The driver does what the one-process run does before and after the slides, with the same
functions: it locks the output folder, expands the inputs, checks the settings against
the manifest, plans the jobs (same keys, output stems and skips:
:func:`~leukoscan.pipeline.batch.runner.plan`) and, at the end, writes the manifest, summaries,
report and exports (:func:`~leukoscan.pipeline.batch.runner.finish_batch`). In between, the slides
stream through ``Dataset.map_batches`` over an actor pool: each actor
(:class:`SlideWorker`) loads the pipeline once (one GPU per actor with ``device="cuda"``,
``cpus_per_worker`` CPU threads otherwise) and runs
:func:`~leukoscan.pipeline.batch.runner.process_slide` (the one function that processes a slide and
writes its files, staged and moved into place together) with the driver's provenance.
Then the worker writes the slide's record ``<out>/.slides/<stem>.json`` (atomic): the
commit of that slide.

Resume and failures (same ``out_dir`` again):

- slides in the manifest with an unchanged input are skipped (as in one process); records
  of slides finished by workers of a killed run are folded into the manifest first, so no
  finished slide is redone;
- every slide is tried at most twice in all: an error other than an unreadable input is
  retried at once; a slide that failed in an earlier run is retried once on the next; after
  two failed tries it is reported from its record without running again (``overwrite``
  tries again);
- a worker process that dies is restarted by Ray and its slide retried once; a slide whose
  worker died twice is reported as a failure and the batch goes on. A killed worker leaves
  no partial file (its staging folder is removed when the folder is next locked).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leukoscan.device import set_cpu_threads
from leukoscan.errors import BadInputError, ConfigError
from leukoscan.io import atomic_write_json, sha256_file
from leukoscan.pipeline.batch import runner
from leukoscan.pipeline.batch.outputs import locked_out_dir
from leukoscan.pipeline.batch.runner import BatchResult, OutputOptions, SlideJob
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.provenance import provenance, settings_key
from leukoscan.pipeline.report.summary import SlideRules, SlideSummary

STATE_DIR = ".slides"  # per-slide records of the Ray engine, inside out_dir
MAX_TRIES = 2
DIED = "worker died while processing this slide"


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: start a local Ray; "auto": the running cluster; "ray://host:10001"
    device: str = "cpu"  # "cpu" or "cuda" (one GPU per actor)
    workers: int | None = None  # actors; default: cluster CPUs // cpus_per_worker (GPUs with cuda)
    cpus_per_worker: int = 1


def _record_path(out_dir: Path, stem: str) -> Path:
    return out_dir / STATE_DIR / f"{stem}.json"


def _read_record(out_dir: Path, job: SlideJob, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record of ``job`` when made from this very input with these settings, else None."""
    path = _record_path(out_dir, job.stem)
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    same = (
        rec.get("key") == job.key and rec.get("settings") == settings and rec.get("sha256") == sha256_file(job.source)
    )
    return rec if same else None


def run_slide(
    pipeline: Pipeline, job: SlideJob, out_dir: Path, tries: int, settings: dict[str, Any], kw: dict[str, Any]
) -> dict[str, Any]:
    """Process one slide (:func:`~leukoscan.pipeline.batch.runner.process_slide`) and write its record.

    ``tries``: failed tries in earlier runs. An unusable input fails at once with the
    one-process message; any other error is retried while tries < MAX_TRIES.
    """
    head = {
        "key": job.key,
        "stem": job.stem,
        "source": str(job.source),
        "sha256": sha256_file(job.source),
        "settings": settings,
    }
    t0 = time.perf_counter()
    while True:
        tries += 1
        ms: dict[str, float] = {}
        try:
            rec = {
                **head,
                "status": "ok",
                "manifest": runner.process_slide(pipeline, job, out_dir, timing=ms, **kw),
                "ms": ms,  # detect / classify / write, as the one-process run times them
            }
        except BadInputError as e:
            rec = {**head, "status": "failed", "error": str(e)}
        except Exception as e:  # noqa: BLE001 - one slide's bug must not end a cohort run
            rec = {**head, "status": "failed", "error": f"{type(e).__name__}: {e}"}
            if tries < MAX_TRIES:
                continue
        rec.update(tries=tries, seconds=round(time.perf_counter() - t0, 4), finished_at=time.time())
        atomic_write_json(_record_path(out_dir, job.stem), rec)
        return rec


class SlideWorker:
    """Ray Data actor: loads the pipeline once, then processes rows ``{source, key, stem, tries}``."""

    def __init__(
        self,
        factory: Callable[[], Pipeline],
        out_dir: str,
        device: str,
        threads: int,
        settings: dict[str, Any],
        kw: dict[str, Any],
    ) -> None:
        set_cpu_threads(threads)
        self.pipeline = factory()
        self.pipeline.to("cuda:0" if device != "cpu" else "cpu")  # Ray gives each actor its own GPU as cuda:0
        if hasattr(self.pipeline.detector, "threads"):
            self.pipeline.detector.threads = threads  # ultralytics resets torch threads per call
        self.out_dir, self.settings, self.kw = Path(out_dir), settings, kw

    def __call__(self, rows: dict[str, Any]) -> dict[str, list]:
        keys, stems, status = [], [], []
        for source, key, stem, tries in zip(rows["source"], rows["key"], rows["stem"], rows["tries"], strict=True):
            job = SlideJob(Path(str(source)), str(key), str(stem))
            rec = run_slide(self.pipeline, job, self.out_dir, int(tries), self.settings, self.kw)
            keys.append(rec["key"])
            stems.append(rec["stem"])
            status.append(rec["status"])
        return {"key": keys, "stem": stems, "status": status}


def _connect(address: str | None) -> bool:
    """Connect to (or start) Ray; True when this call started it (and must shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    return True


def _pool_size(opts: RayOptions) -> int:
    import ray

    if opts.workers:
        return int(opts.workers)
    res = ray.cluster_resources()
    if opts.device != "cpu":
        n = int(res.get("GPU", 0))
        if n == 0:
            raise ConfigError("--device cuda: the Ray cluster has no GPUs (`ray status` shows its resources)")
        return n
    return max(1, int(res.get("CPU", 1)) // opts.cpus_per_worker)


def _run_pool(rows: list[dict[str, Any]], worker_kw: dict[str, Any], opts: RayOptions, progress: bool) -> Iterator[str]:
    """Stream the slides through the actor pool; yields each slide's stem as its record lands."""
    import ray
    from tqdm import tqdm

    ctx = ray.data.DataContext.get_current()
    ctx.max_errored_blocks = -1  # a slide whose worker died twice is reported, the rest goes on
    ctx.enable_progress_bars = False
    n = min(_pool_size(opts), len(rows))
    ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        SlideWorker,
        batch_size=1,
        # one slide per actor at a time: a worker that dies takes no other slide's try with it
        compute=ray.data.ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1),
        fn_constructor_kwargs={**worker_kw, "device": opts.device, "threads": opts.cpus_per_worker},
        num_cpus=opts.cpus_per_worker,
        num_gpus=1 if opts.device != "cpu" else 0,
        max_restarts=MAX_TRIES - 1,
        max_task_retries=MAX_TRIES - 1,
    )
    bar = tqdm(ds.iter_rows(), total=len(rows), desc=f"slides ({n} Ray workers)", unit="img", disable=not progress)
    for row in bar:
        yield str(row["stem"])


def run_batch_ray(
    factory: Callable[[], Pipeline],
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    pipeline: Pipeline | None = None,
    rules: SlideRules | None = None,
    root: str | Path | None = None,
    options: OutputOptions | None = None,
    overwrite: bool = False,
    recursive: bool = True,
    max_pixels: int | None = None,
    ray_options: RayOptions | None = None,
    progress: bool = True,
    on_slide: Callable[[dict[str, Any], dict[str, float]], None] | None = None,
) -> BatchResult:
    """:func:`~leukoscan.pipeline.batch.runner.run_batch` on Ray; ``factory()`` builds the pipeline in each worker.

    ``factory`` must be picklable (``functools.partial(load_pipeline, ...)`` with absolute
    paths); ``pipeline``: the same pipeline in this process (for provenance; default
    ``factory()``). ``out_dir`` and the inputs must be visible to every node.
    ``on_slide(record, ms)``: called in this process as each slide finishes on a worker, as
    :func:`~leukoscan.pipeline.batch.runner.run_batch` calls it; the workers' times of every
    slide are in ``BatchResult.timings``.
    """
    inputs = list(inputs)
    with locked_out_dir(out_dir) as out:
        pipe = pipeline if pipeline is not None else factory()
        rules = rules or SlideRules()
        prov = provenance(pipe, rules=rules)
        kw = {"rules": rules, "options": options, "prov": prov, "max_pixels": max_pixels}
        manifest = runner.start_manifest(out, prov, overwrite)
        runner.write_manifest(out, manifest)  # marks the folder as LeukoScan's before any slide lands in it
        settings = settings_key(prov)
        if overwrite:
            shutil.rmtree(out / STATE_DIR, ignore_errors=True)
        _fold(out, manifest, settings)  # slides finished by the workers of a killed run
        jobs, skipped, failures = runner.plan_inputs(
            inputs, out, manifest, root=root, overwrite=overwrite, recursive=recursive
        )
        rows = []
        for job in jobs:
            rec = _read_record(out, job, settings)
            if rec is None or rec["status"] != "failed" or rec["tries"] < MAX_TRIES:
                rows.append(
                    {"source": str(job.source), "key": job.key, "stem": job.stem, "tries": rec["tries"] if rec else 0}
                )
        result = BatchResult(out, skipped=skipped, failures=failures, provenance=prov)
        if rows:
            worker_kw = {"factory": factory, "out_dir": str(out), "settings": settings, "kw": kw}

            def landed(stem: str) -> None:
                rec = json.loads(_record_path(out, stem).read_text())
                if rec.get("status") == "ok":
                    result.timings[rec["key"]] = rec.get("ms", {})
                    if on_slide is not None:
                        on_slide(rec["manifest"], rec.get("ms", {}))

            _run_with_ray(rows, worker_kw, ray_options or RayOptions(), progress, landed)
        for job in jobs:
            rec = _read_record(out, job, settings) or _died(out, job, settings)
            if rec["status"] == "ok":
                manifest["slides"][job.key] = rec["manifest"]
                result.summaries.append(SlideSummary.from_dict(rec["manifest"]["summary"]))
            else:
                result.failures.append((str(job.source), rec["error"]))
        runner.write_manifest(out, manifest)
        result.records = runner.finish_batch(out, manifest, result.failures, runner.cell_classes(pipe))
        return result


def _run_with_ray(
    rows: list[dict[str, Any]],
    worker_kw: dict[str, Any],
    opts: RayOptions,
    progress: bool,
    on_record: Callable[[str], None] | None = None,
) -> None:
    started = _connect(opts.address)
    try:
        t0 = time.time()
        for stem in _run_pool(rows, worker_kw, opts, progress):
            if on_record is not None:
                on_record(stem)
        if progress:
            print(f"{len(rows)} slides in {time.time() - t0:.1f}s on Ray")
    finally:
        if started:
            import ray

            ray.shutdown()


def _fold(out: Path, manifest: dict[str, Any], settings: dict[str, Any]) -> None:
    """Records of finished slides (same settings) that the manifest does not hold yet -> manifest."""
    for path in sorted((out / STATE_DIR).rglob("*.json")):
        rec = json.loads(path.read_text())
        done = rec.get("status") == "ok" and rec.get("settings") == settings
        if done and rec["key"] not in manifest["slides"]:
            files = rec["manifest"]["outputs"].values()
            if all((out / f).is_file() for f in files):
                manifest["slides"][rec["key"]] = rec["manifest"]


def _died(out: Path, job: SlideJob, settings: dict[str, Any]) -> dict[str, Any]:
    """The record of a slide whose worker died on every try (none was written)."""
    rec = {
        "key": job.key,
        "stem": job.stem,
        "source": str(job.source),
        "sha256": sha256_file(job.source),
        "settings": settings,
        "status": "failed",
        "error": f"{DIED} ({MAX_TRIES} tries)",
        "tries": MAX_TRIES,
    }
    atomic_write_json(_record_path(out, job.stem), rec)
    return rec


__all__ = ["DIED", "MAX_TRIES", "STATE_DIR", "RayOptions", "SlideWorker", "run_batch_ray", "run_slide"]
