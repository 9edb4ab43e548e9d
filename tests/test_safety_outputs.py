"""Images (pixel limits, bit depth), folder search, and output folders (lock, all-or-none, modes)."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from test_infer_outputs import GroundTruthDetector, HalfBlastClassifier

from leukoscan.io import ImageReadError, atomic_write_text, load_image, read_image
from leukoscan.pipeline.batch.inputs import expand_inputs
from leukoscan.pipeline.batch.outputs import OutputBusyError, locked_out_dir, reserve_run_dir
from leukoscan.pipeline.batch.runner import run_batch
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.synthetic import make_smear


def _smear(path: Path, seed: int = 0, size=(96, 128)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_smear(*size, seed=seed).image).save(path)
    return path


# ---- images -----------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_pixel_limit_is_checked_from_the_header(tmp_path, suffix, monkeypatch):
    p = tmp_path / f"big{suffix}"
    arr = np.zeros((300, 400, 3), np.uint8)
    (tifffile.imwrite(p, arr) if suffix == ".tif" else Image.fromarray(arr).save(p))
    with pytest.raises(ImageReadError, match=r"big\.\w+: image too large \(400x300 = 0\.1 megapixels; limit 0\.1 MP"):
        read_image(p, max_pixels=100_000)
    monkeypatch.setenv("LEUKOSCAN_MAX_PIXELS", "100000")
    with pytest.raises(ImageReadError, match="too large"):
        read_image(p)
    monkeypatch.delenv("LEUKOSCAN_MAX_PIXELS")
    assert read_image(p).shape == (300, 400, 3)  # the default (50 MP) lets a normal slide through


def test_decompression_bomb_sized_header_is_refused_not_decoded(tmp_path):
    """A PNG whose header claims 20000 x 20000: refused per file, before any decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    p = tmp_path / "bomb.png"
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    p.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageReadError, match=r"bomb\.png: image too large \(20000x20000 = 400\.0 megapixels"):
        read_image(p)


def test_tiny_image_is_refused_for_slides(tmp_path):
    p = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(p)
    with pytest.raises(ImageReadError, match=r"dot\.png: image too small \(1x1 px"):
        load_image(p, min_side=32)


def test_12bit_data_in_16bit_tiff_is_scaled_by_its_own_range(tmp_path):
    rgb8 = make_smear(64, 80, seed=3).image
    twelve = ((rgb8.astype(np.int64) * 4095 + 127) // 255).astype(np.uint16)  # a 12-bit camera's values
    tifffile.imwrite(tmp_path / "cam12.tif", twelve)
    got = load_image(tmp_path / "cam12.tif")
    assert got.bit_depth == 12 and "12-bit data in a 16-bit file" in got.notes[0]
    assert np.abs(got.array.astype(int) - rgb8).max() <= 1  # not "nearly black" (was /257)
    tifffile.imwrite(tmp_path / "full16.tif", rgb8.astype(np.uint16) * 257)
    full = load_image(tmp_path / "full16.tif")
    assert full.notes == [] and np.array_equal(full.array, rgb8)


def test_bit_depth_note_reaches_the_cell_table(tmp_path):
    rgb8 = make_smear(96, 128, seed=0).image
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "cam12.tif", ((rgb8.astype(np.int64) * 4095 + 127) // 255).astype(np.uint16))
    pipe = Pipeline(GroundTruthDetector(), HalfBlastClassifier(), PipelineConfig())
    res = run_batch(pipe, [src], tmp_path / "out")
    assert res.ok
    cells = json.loads((tmp_path / "out" / "cam12_cells.json").read_text())
    assert cells["notes"] and "12-bit" in cells["notes"][0]
    header = (tmp_path / "out" / "cam12_cells.csv").read_text().splitlines()[0]
    assert header.endswith(",note")


# ---- folder search ------------------------------------------------------------------------
def test_recursive_search_symlink_loop_and_dangling_link(tmp_path):
    root = tmp_path / "slides"
    _smear(root / "a.png")
    _smear(root / "day1" / "b.png")
    _smear(root / "day1" / "deeper" / "c.png")
    (root / "day1" / "loop").symlink_to(root, target_is_directory=True)  # a symlink loop
    (root / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (root / ".hidden").mkdir()
    _smear(root / ".hidden" / "h.png")
    files, failures = expand_inputs([root])
    assert sorted(f.name for f in files) == ["a.png", "b.png", "c.png"]
    assert failures == [(str(root / "gone.png"), "dangling symbolic link (its target does not exist)")]
    flat, _ = expand_inputs([root], recursive=False)
    assert [f.name for f in flat] == ["a.png"]
    _smear(tmp_path / "outer" / "inner" / "d.png")
    nested, fails = expand_inputs([tmp_path / "outer"], recursive=False)
    assert nested == [] and "sub-folders not searched" in fails[0][1]


# ---- output folders -------------------------------------------------------------------------
def test_output_files_get_the_usual_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644


def test_a_named_out_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "out"
    held, release = threading.Event(), threading.Event()

    def holder():
        with locked_out_dir(out):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(10)
    try:
        with pytest.raises(OutputBusyError, match=rf"--out {out} is in use by pid {os.getpid()}"), locked_out_dir(out):
            pass
    finally:
        release.set()
        t.join()
    with locked_out_dir(out):  # free again once the holder finished
        pass


def test_run_folders_are_reserved_atomically(tmp_path):
    got = []
    threads = [threading.Thread(target=lambda: got.append(reserve_run_dir(tmp_path, "exp"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 8 and all(p.is_dir() for p in got)


def test_a_slide_has_all_its_outputs_or_none(tmp_path, monkeypatch):
    from leukoscan.pipeline.report import slide_report as report

    src = tmp_path / "in"
    _smear(src / "a.png", 0)
    _smear(src / "b.png", 1)
    real = report.save_annotated

    def fail_for_b(path, image, det, **kw):
        if Path(path).stem == "b" and "thumbs" in str(path):  # after b's table and image were written
            raise ImageReadError(f"{path}: simulated failure while writing")
        return real(path, image, det, **kw)

    monkeypatch.setattr(report, "save_annotated", fail_for_b)
    out = tmp_path / "out"
    res = run_batch(Pipeline(GroundTruthDetector(), HalfBlastClassifier(), PipelineConfig()), [src], out)
    assert [Path(p).name for p, _ in res.failures] == ["b.png"]
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert not [n for n in names if n.startswith("b") or "/b." in n], names
    assert {"a_annotated.png", "a_cells.csv", "a_cells.json", "thumbs/a.jpg"} <= set(names)
    assert not list(out.glob(".slide-*"))


class SlowDetector(GroundTruthDetector):
    def predict(self, image, **kw):
        time.sleep(0.05)
        return super().predict(image, **kw)


def test_two_batches_at_once_both_complete(tool, tmp_path, monkeypatch, capsys):
    """Two infer runs started together: without --out each gets its own folder and a
    complete summary; with the same --out the second is refused (exit 2), the first completes."""
    src = tmp_path / "in"
    for i in range(6):
        _smear(src / f"s{i}.png", i)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "leukoscan.tools.infer.load_pipeline",
        lambda *a, **k: Pipeline(SlowDetector(), HalfBlastClassifier(), PipelineConfig()),
    )
    infer = tool("infer")

    def run_two(extra):
        codes = [None, None]
        start = threading.Barrier(2)

        def go(i):
            start.wait()
            codes[i] = infer.main([str(src), "--tile", "off", *extra])

        ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return codes

    assert run_two([]) == [0, 0]
    runs = sorted((tmp_path / "runs" / "infer").iterdir())
    assert [r.name for r in runs] == ["exp", "exp_2"]
    for r in runs:
        assert len(json.loads((r / "summary.json").read_text())["slides"]) == 6
        assert len((r / "summary.csv").read_text().splitlines()) == 7
    codes = run_two(["--out", str(tmp_path / "shared")])
    assert sorted(codes) == [0, 2]
    assert "is in use by" in capsys.readouterr().err  # "pid N", or "another run" before the holder wrote its pid
    assert len(json.loads((tmp_path / "shared" / "summary.json").read_text())["slides"]) == 6


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    (out / ".slide-abc123" / "thumbs").mkdir(parents=True)
    (out / ".slide-abc123" / "x_cells.csv").write_text("half a slide")
    with locked_out_dir(out):
        assert not list(out.glob(".slide-*"))


def test_output_folders_inside_an_input_folder_are_not_slides(tmp_path, monkeypatch):
    """``leukoscan infer .`` twice: the second run must not read the first run's images."""
    monkeypatch.chdir(tmp_path)
    _smear(tmp_path / "slide.png")
    pipe = Pipeline(GroundTruthDetector(), HalfBlastClassifier(), PipelineConfig())
    first = run_batch(pipe, [tmp_path], reserve_run_dir("runs/infer", "exp"))
    second = run_batch(pipe, [tmp_path], reserve_run_dir("runs/infer", "exp"))
    assert [s.image for s in first.summaries] == [s.image for s in second.summaries] == ["slide.png"]
    assert first.ok and second.ok
