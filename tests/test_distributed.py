"""``infer --engine ray``: a local Ray (2 CPUs) started here; outputs equal the single-process run's.

Ray Data runs the stand-in pipeline of :mod:`ray_helpers` (deterministic per image) in two
actors; every test compares against :func:`leukoscan.pipeline.batch.runner.run_batch` on the same inputs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray_helpers
from PIL import Image

from leukoscan.pipeline.batch.distributed import (
    DIED,
    MAX_TRIES,
    STATE_DIR,
    RayOptions,
    run_batch_ray,
)
from leukoscan.pipeline.batch.runner import run_batch
from leukoscan.synthetic import make_smear

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.cloudpickle.register_pickle_by_value(ray_helpers)  # workers need not import the tests folder
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    """One provenance time stamp for both engines (it is printed on every output)."""
    import leukoscan.pipeline.infer.provenance as prov

    monkeypatch.setattr(prov.time, "strftime", lambda fmt, *a: "2026-01-01T00:00:00+0000")


def _cohort(folder: Path, n: int = 6, *, corrupt: bool = True) -> Path:
    """``n`` smears of two sizes, a truncated JPEG, a text file and a same-stem slide elsewhere."""
    folder.mkdir(parents=True)
    for i in range(n):
        size = (120, 160) if i % 2 else (96, 128)
        Image.fromarray(make_smear(*size, seed=i).image).save(folder / f"s{i:02d}.png")
    if corrupt:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
        (folder / "notes.txt").write_text("not a slide")
    return folder


def _files(out: Path) -> dict[str, object]:
    """Every output file (the manifest without its per-slide time stamps), hidden state left out."""
    files: dict[str, object] = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        files[str(rel)] = p.read_bytes()
        if p.name == "manifest.json":
            doc = json.loads(p.read_text())
            for rec in doc["slides"].values():
                rec.pop("processed")
            files[str(rel)] = doc
    return files


def _ray(inputs, out, on_slide=None, **kw):
    return run_batch_ray(
        ray_helpers.factory(**kw), inputs, out, ray_options=RayOptions(workers=2), progress=False, on_slide=on_slide
    )


def test_ray_outputs_equal_single_process(local_ray, tmp_path):
    src = _cohort(tmp_path / "in")
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(make_smear(96, 128, seed=50).image).save(other / "s00.png")  # same stem -> s00_2
    inputs = [src, other / "s00.png", tmp_path / "missing.png"]
    single = run_batch(ray_helpers.make_pipeline(), inputs, tmp_path / "single")
    seen = []
    dist = _ray(inputs, tmp_path / "ray", on_slide=lambda rec, ms: seen.append((rec["key"], sorted(ms))))
    # a line per slide as it lands on the driver (the one-process run's callback), with the workers' times
    assert sorted(k for k, _ in seen) == sorted(single.timings) == sorted(dist.timings)
    assert {tuple(m) for _, m in seen} == {("classify", "detect", "write")}
    assert dist.failures == single.failures  # corrupt, unsupported and missing inputs: same words, same order
    assert [Path(p).name for p, _ in dist.failures] == ["missing.png", "notes.txt", "broken.jpg"]
    assert dist.summaries == single.summaries
    assert {"in/s00_cells.json", "other/s00_cells.json"} <= set(_files(tmp_path / "ray"))
    assert _files(tmp_path / "ray") == _files(tmp_path / "single")  # byte for byte, report included
    assert not list((tmp_path / "ray").rglob("*.tmp*"))


def test_rerun_skips_finished_and_retries_a_failed_slide_once(local_ray, tmp_path):
    src = _cohort(tmp_path / "in", n=3)
    out = tmp_path / "ray"
    first = _ray([src], out)
    records = {p.name: json.loads(p.read_text()) for p in (out / STATE_DIR).glob("*.json")}
    assert records["broken.json"]["tries"] == 1 and records["s00.json"]["status"] == "ok"
    stamp = (out / "s00_cells.json").stat().st_mtime_ns
    second = _ray([src], out)  # finished slides skipped; the failed one tried once more
    assert len(second.skipped) == 3 and second.failures == first.failures
    assert json.loads((out / STATE_DIR / "broken.json").read_text())["tries"] == MAX_TRIES
    assert (out / "s00_cells.json").stat().st_mtime_ns == stamp
    third = _ray([src], out)  # two failed tries: reported from its record, not run again
    assert len(third.skipped) == 3 and third.failures == first.failures
    assert json.loads((out / STATE_DIR / "broken.json").read_text())["tries"] == MAX_TRIES


def test_changed_input_is_processed_again(local_ray, tmp_path):
    src = _cohort(tmp_path / "in", n=2, corrupt=False)
    out = tmp_path / "ray"
    _ray([src], out)
    time.sleep(0.01)
    Image.fromarray(make_smear(96, 128, seed=99).image).save(src / "s00.png")
    res = _ray([src], out)
    assert len(res.skipped) == 1 and [s.image for s in res.summaries] == ["s00.png"]
    assert _files(out) == _files(_single(src, tmp_path / "single"))


def _single(src: Path, out: Path) -> Path:
    run_batch(ray_helpers.make_pipeline(), [src], out)
    return out


def test_killed_run_then_rerun_completes_without_duplicates(local_ray, tmp_path):
    src = _cohort(tmp_path / "in", n=10)
    out = tmp_path / "ray"
    script = Path(ray_helpers.__file__)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), str(src), "--sleep", "0.5"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / STATE_DIR).glob("s*.json"))) < 3:
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its local Ray and every worker at once
    proc.wait()
    done = {p.stem for p in (out / STATE_DIR).glob("s*.json")}
    assert 3 <= len(done) < 10, done
    stamps = {s: (out / f"{s}_cells.json").stat().st_mtime_ns for s in done}
    res = _ray([src], out)
    assert len(res.skipped) == len(done)  # nothing finished was lost or redone
    assert {s: (out / f"{s}_cells.json").stat().st_mtime_ns for s in done} == stamps
    keys = [r["key"] for r in res.records]
    assert keys == [f"s{i:02d}.png" for i in range(10)]  # each slide once, none missing
    assert _files(out) == _files(_single(src, tmp_path / "single"))
    assert not [p for p in out.iterdir() if p.name.startswith(".slide-")] and not list(out.rglob("*.tmp*"))


def test_worker_death_is_retried_then_reported(local_ray, tmp_path):
    src = _cohort(tmp_path / "in", n=2, corrupt=False)
    Image.fromarray(np.full((ray_helpers.DIE_HEIGHT, 100, 3), 200, np.uint8)).save(src / "killer.png")
    res = _ray([src], tmp_path / "ray")
    assert [s.image for s in res.summaries] == ["s00.png", "s01.png"]
    assert [(Path(p).name, m) for p, m in res.failures] == [("killer.png", f"{DIED} ({MAX_TRIES} tries)")]
    assert not list((tmp_path / "ray").glob("killer*"))  # no output of the slide that never finished


def test_infer_on_ray_with_no_run_counts_with_the_bundled_detector(local_ray, tmp_path, monkeypatch, tool, capsys):
    """The workers load what the driver loaded: the bundled detector and no classifier (they used to look
    for a classifier run of their own and fail); a line per slide and the Speed line are printed."""
    src = _cohort(tmp_path / "in", n=2, corrupt=False)
    monkeypatch.chdir(tmp_path)  # no runs/ here
    rc = tool("infer").main([str(src), "--engine", "ray", "--workers", "2", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "s00.png: " in out and "s01.png: " in out and "blasts not assessed" in out
    assert "Speed: " in out and "(mean of 2 slides)" in out
