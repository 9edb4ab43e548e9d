"""End to end with a tiny trained pair: train both stages, infer on a folder, export ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest
from detect_fixtures import make_tiny_dataset
from PIL import Image

from leukoscan.io import sha256_file
from leukoscan.synthetic import make_smear


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tool):
    """A working folder holding runs/detect/<yolo> and runs/classify/<cnn> (1 epoch each)."""
    wd = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.chdir(wd)
    mp.setenv("LEUKOSCAN_THREADS", "1")
    data = make_tiny_dataset(wd / "det_data", n_train=3, n_val=1)
    assert tool("train_detector").main([
        "--model", "yolov8n", "--data", str(data), "--epochs", "1", "--imgsz", "64", "--batch", "4",
        "--device", "cpu", "--scratch", "--name", "det"]) == 0
    assert tool("train_classifier").main([
        "--model", "cnn", "--data", "demo_cells", "--imgsz", "32", "--folds", "0", "--epochs", "1",
        "--scratch", "--device", "cpu", "--name", "clf"]) == 0
    yield wd
    mp.undo()


def _slides(folder, n=2, size=(96, 128)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(make_smear(*size, seed=100 + i).image).save(folder / f"s{i}.png")
    return folder


def test_infer_without_models_says_how_to_train(tmp_path, monkeypatch, tool, capsys):
    monkeypatch.chdir(tmp_path)
    _slides(tmp_path / "in", 1)
    assert tool("infer").main([str(tmp_path / "in")]) == 2
    assert "leukoscan train-detector" in capsys.readouterr().err


def test_infer_folder_with_bad_file_uses_newest_runs(workdir, tool, capsys):
    src = _slides(workdir / "in_bad", 2)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    before = {p.name: sha256_file(p) for p in src.iterdir()}
    rc = tool("infer").main([str(src), "--out", str(workdir / "out_bad"), "--conf", "0.001"])
    assert rc == 1  # one input failed, the rest processed
    assert "broken.jpg" in capsys.readouterr().err
    assert {p.name: sha256_file(p) for p in src.iterdir()} == before
    summary = json.loads((workdir / "out_bad" / "summary.json").read_text())
    assert [s["image"] for s in summary["slides"]] == ["s0.png", "s1.png"]
    assert [f["input"].endswith("broken.jpg") for f in summary["failures"]] == [True]
    for s in summary["slides"]:
        cells = json.loads((workdir / "out_bad" / f"{s['image'][:-4]}_cells.json").read_text())["cells"]
        assert s["leukocytes"] == len(cells)
        assert all(0.0 <= c["blast_prob"] <= 1.0 for c in cells)


def test_large_slide_is_tiled(workdir):
    from leukoscan.app.pipeline import load_pipeline

    pipe = load_pipeline("runs/detect/det", "runs/classify/clf")
    calls = []
    orig = pipe.detector.predict_full
    pipe.detector.predict_full = lambda im, **kw: calls.append(im.shape) or orig(im, **kw)
    pipe(make_smear(400, 520, seed=5).image)  # > 2x imgsz 64 -> sliced
    assert len(calls) > 1 and all(max(s[:2]) < 400 for s in calls)


def test_onnx_export_and_parity(workdir, tool):
    from leukoscan.app.pipeline import PipelineConfig, load_pipeline

    assert tool("export").main(["--detector", "runs/detect/det", "--classifier", "runs/classify/clf"]) == 0
    assert (workdir / "runs/detect/det/weights/best.onnx").is_file()
    assert (workdir / "runs/classify/clf/model.onnx").is_file()
    cfg = PipelineConfig(conf=0.001, tile=0)
    pt = load_pipeline("runs/detect/det", "runs/classify/clf", cfg)
    ox = load_pipeline("runs/detect/det", "runs/classify/clf", cfg, onnx=True)
    crops = [make_smear(48, 48, seed=i).image for i in range(4)]
    np.testing.assert_allclose(ox.classifier.predict_proba(crops), pt.classifier.predict_proba(crops), atol=1e-4)
    compared = 0
    for seed in (7, 8):
        image = make_smear(96, 128, seed=seed).image
        a, b = pt.detector.predict(image, conf=0.001, tile=0), ox.detector.predict(image, conf=0.001, tile=0)
        strong = a.confidence >= 0.003  # well above the threshold: the same boxes come back
        compared += int(strong.sum())
        for box, score in zip(a.xyxy[strong], a.confidence[strong], strict=True):
            d = np.abs(b.xyxy - box).max(axis=1) if len(b) else np.array([np.inf])
            j = int(np.argmin(d))
            assert d[j] <= 1.0 and abs(b.confidence[j] - score) <= 2e-3
    assert compared > 0, "no detections to compare"


def test_infer_engine_ray_matches_local(workdir, tool, capsys):
    """The CLI with trained models: Ray workers load them from the run folders, outputs equal one process."""
    ray = pytest.importorskip("ray")
    src = _slides(workdir / "in_ray", 3)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    common = [str(src), "--conf", "0.001", "--device", "cpu"]
    assert tool("infer").main([*common, "--out", str(workdir / "out_local")]) == 1
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        assert tool("infer").main([*common, "--engine", "ray", "--workers", "2", "--out", str(workdir / "out_ray")]) == 1
        assert tool("infer").main([*common, "--engine", "ray", "--out", str(workdir / "out_ray")]) == 1
    finally:
        ray.shutdown()
    assert "3 slides were already finished" in capsys.readouterr().out
    local, dist = workdir / "out_local", workdir / "out_ray"
    for name in ("summary.json", "summary.csv", "report.html", "s0_cells.json", "s2_cells.csv", "s1.png"):
        assert (dist / name).read_bytes() == (local / name).read_bytes(), name
