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
    assert (
        tool("train_detector").main(
            [
                "--model",
                "yolov8n",
                "--data",
                str(data),
                "--epochs",
                "1",
                "--imgsz",
                "64",
                "--batch",
                "4",
                "--device",
                "cpu",
                "--scratch",
                "--name",
                "det",
                "--wandb",
            ]
        )
        == 0
    )
    assert (
        tool("train_classifier").main(
            [
                "--model",
                "cnn",
                "--data",
                "demo_cells",
                "--imgsz",
                "32",
                "--folds",
                "0",
                "--epochs",
                "1",
                "--scratch",
                "--device",
                "cpu",
                "--name",
                "clf",
                "--wandb",
            ]
        )
        == 0
    )
    yield wd
    mp.undo()


def _slides(folder, n=2, size=(96, 128)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(make_smear(*size, seed=100 + i).image).save(folder / f"s{i}.png")
    return folder


def test_infer_without_models_says_how_to_train(tmp_path, monkeypatch, tool, capsys):
    """No trained run and (an install without bundled weights) no bundled detector: one line
    saying how to train. (With the bundled detector, infer answers: tests/test_blood_weights.py.)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("leukoscan.bundled.WEIGHTS_DIR", tmp_path / "no_weights")
    _slides(tmp_path / "in", 1)
    assert tool("infer").main([str(tmp_path / "in")]) == 2
    assert "leukoscan train-detector" in capsys.readouterr().err


def test_infer_folder_with_bad_file_uses_newest_runs(workdir, tool, capsys):
    src = _slides(workdir / "in_bad", 2)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    before = {p.name: sha256_file(p) for p in src.iterdir()}
    rc = tool("infer").main([str(src), "--out", str(workdir / "out_bad"), "--conf", "0.001"])
    assert rc == 1  # one input failed, the rest processed
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err
    assert "detector: MODEL NOT USABLE (finds 0% of white cells" in captured.err  # 1 epoch at 64 px
    assert "s0.png: " in captured.out and "ms detect" in captured.out  # a line per slide, with its times
    assert "Speed: " in captured.out and f"results saved to {workdir / 'out_bad'}" in captured.out
    assert {p.name: sha256_file(p) for p in src.iterdir()} == before
    summary = json.loads((workdir / "out_bad" / "summary.json").read_text())
    assert [s["image"] for s in summary["slides"]] == ["s0.png", "s1.png"]
    assert [f["input"].endswith("broken.jpg") for f in summary["failures"]] == [True]
    for s in summary["slides"]:
        cells = json.loads((workdir / "out_bad" / f"{s['image'][:-4]}_cells.json").read_text())["cells"]
        assert s["leukocytes"] == len(cells)
        assert s["status"] in ("no leukocytes", "insufficient cells")  # never FLAG / clear on so few cells
        assert all(0.0 <= c["blast_prob"] <= 1.0 for c in cells)


def test_large_slide_is_tiled(workdir):
    from leukoscan.pipeline.infer.cascade import load_pipeline

    pipe = load_pipeline("runs/detect/det", "runs/classify/clf")
    calls = []
    orig = pipe.detector.predict_full
    pipe.detector.predict_full = lambda im, **kw: calls.append(im.shape) or orig(im, **kw)
    pipe(make_smear(400, 520, seed=5).image)  # > 2x imgsz 64 -> sliced
    assert len(calls) > 1 and all(max(s[:2]) < 400 for s in calls)


def test_onnx_export_and_parity(workdir, tool):
    from leukoscan.pipeline.infer.cascade import load_pipeline
    from leukoscan.pipeline.infer.settings import PipelineConfig

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


# ---- issue 14: provenance with real models, device, training records, README snippet -----------


def test_implicit_models_are_announced_and_recorded(workdir, tool, capsys):
    from leukoscan.io import sha256_file

    src = _slides(workdir / "in_prov", 1)
    assert tool("infer").main([str(src), "--out", str(workdir / "out_prov"), "conf=0.001"]) == 0
    cap = capsys.readouterr()
    assert "NEWEST detector run" in cap.err and "NEWEST classifier run" in cap.err
    assert "# detector: runs/detect/det (yolov8n, sha256 " in cap.out
    prov = json.loads((workdir / "out_prov" / "summary.json").read_text())["provenance"]
    assert prov["detector"]["sha256"] == sha256_file(workdir / "runs/detect/det/weights/best.pt")
    assert prov["classifier"]["run"] == "runs/classify/clf" and prov["classifier"]["chosen"].startswith("newest")
    assert prov["thresholds"]["conf"] == 0.001 and prov["tiling"]["mode"] == "auto"
    assert prov["leukoscan_version"] and "git_commit" in prov


def test_device_reaches_both_models(workdir, monkeypatch):
    """``device`` goes to the detector and into the classifier's network (no GPU needed)."""
    import torch

    import leukoscan.pipeline.infer.cascade as pl
    from leukoscan.pipeline.infer.cascade import load_pipeline

    moved = []
    orig = torch.nn.Module.to
    monkeypatch.setattr(pl, "resolve_device", lambda d: d)
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: moved.append(a[0] if a else k) or self)
    pipe = load_pipeline("runs/detect/det", "runs/classify/clf", device="cuda:1")
    monkeypatch.setattr(torch.nn.Module, "to", orig)
    assert pipe.detector.device == "cuda:1" and pipe.classifier.device == "cuda:1"
    assert "cuda:1" in moved  # the classifier's torch network was moved


def _wandb_run(run_dir):
    from wandb_reader import read_run

    return read_run(run_dir)


def test_detector_run_records(workdir):
    run = workdir / "runs/detect/det"
    for f in ("curves.png", "pr_curve.png", "confusion_matrix.png", "val_predictions.jpg"):
        assert (run / "plots" / f).is_file(), f
    assert (run / "metrics.csv").is_file() and not (run / "results.csv").exists()
    info = json.loads((run / "run_info.json").read_text())
    assert info["optimizer"] and info["lr0"] > 0  # what the backend really used
    wb = _wandb_run(run)
    assert wb["run"].project == "leukoscan" and wb["run"].job_type == "detect-train"
    assert wb["config"]["lr_used"] == info["lr0"] and wb["config"]["run"]["class_names"] == info["class_names"]
    epoch_rows = [h for h in wb["history"] if "epoch" in h and "final/mAP50" not in h]
    keys = set().union(*epoch_rows)
    assert {"train/box_loss", "val/box_loss", "lr/pg0", "metrics/ultralytics_map50"} <= keys
    assert "metrics/map50" not in keys  # one mAP50 per evaluator, named (final/mAP50: ours, COCO)
    assert not any(k.startswith("train/") and "val" in k for k in keys)
    final = next(h for h in wb["history"] if "final/mAP50" in h)
    assert any(k.startswith("final/samples") for k in final)
    assert any(k.startswith("final/confusion_matrix") for k in final)
    assert any(k.startswith("final/pr_curve") for k in final)
    assert any(k.startswith("plots/val_predictions") for k in final)
    assert [(a.type, "best" in a.aliases) for a in wb["artifacts"] if a.type == "model"] == [("model", True)]
    # one class map for the run: every sample's boxes, truth and prediction, use the same ids
    names = info["class_names"]
    maps = {k: v["value"] for k, v in wb["config"]["_wandb"]["bounding_box/class_labels"].items()}
    assert maps and all(m == {str(i): n for i, n in enumerate(names)} for m in maps.values())
    assert any("ground_truth" in k for k in maps) and any("predictions" in k for k in maps)
    boxes = list((next(run.rglob("offline-run-*")) / "files").rglob("*.boxes2D.json"))
    assert boxes
    for f in boxes:
        for b in json.loads(f.read_text())["box_data"]:
            assert b["box_caption"].split()[0] == names[b["class_id"]]


def test_classifier_run_records(workdir):
    run = workdir / "runs/classify/clf"
    for f in ("curves.png", "pr_curve.png", "confusion_matrix.png", "val_predictions.jpg"):
        assert (run / "plots" / f).is_file(), f
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0] == "stage,epoch,train_loss,lr,balanced_accuracy" and rows[1].startswith("final,1,")
    wb = _wandb_run(run)
    assert wb["run"].project == "leukoscan" and wb["run"].job_type == "classify-train"
    assert wb["config"]["model"] == "cnn" and wb["config"]["fit"]["epochs"] == 1
    keys = set().union(*wb["history"])
    assert {"train/final/loss", "lr/final"} <= keys
    assert any(k.startswith("final/pr_curve") for k in keys) and any(k.startswith("final/confusion") for k in keys)
    assert [a.type for a in wb["artifacts"] if a.type == "model"] == ["model"]


def test_readme_python_api_snippet_runs(workdir, monkeypatch):
    """The README's "Python API" block, run as written in a folder with trained runs."""
    import re
    import shutil
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    wd = workdir / "api"
    (wd / "runs/detect").mkdir(parents=True, exist_ok=True)
    (wd / "runs/classify").mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("wandb*")
    shutil.copytree(workdir / "runs/detect/det", wd / "runs/detect/yolov8n", dirs_exist_ok=True, ignore=skip)
    shutil.copytree(
        workdir / "runs/classify/clf", wd / "runs/classify/handcrafted_svm", dirs_exist_ok=True, ignore=skip
    )
    Image.fromarray(make_smear(96, 128, seed=3).image).save(wd / "slide.jpg")
    monkeypatch.chdir(wd)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    import supervision as sv

    assert isinstance(ns["det"], sv.Detections) and ns["summary"].leukocytes == len(ns["det"])


def test_infer_engine_ray_matches_local(workdir, tool, capsys, monkeypatch):
    """The CLI with trained models: Ray workers load them from the run folders, outputs equal one process."""
    ray = pytest.importorskip("ray")
    import leukoscan.pipeline.infer.provenance as prov

    monkeypatch.setattr(prov.time, "strftime", lambda fmt, *a: "2026-01-01T00:00:00+0000")  # one time stamp
    src = _slides(workdir / "in_ray", 3)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    common = [
        str(src),
        "--detector",
        "runs/detect/det",
        "--classifier",
        "runs/classify/clf",
        "--conf",
        "0.001",
        "--device",
        "cpu",
    ]
    assert tool("infer").main([*common, "--out", str(workdir / "out_local")]) == 1
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        assert (
            tool("infer").main([*common, "--engine", "ray", "--workers", "2", "--out", str(workdir / "out_ray")]) == 1
        )
        assert tool("infer").main([*common, "--engine", "ray", "--out", str(workdir / "out_ray")]) == 1
    finally:
        ray.shutdown()
    assert "skipped 3 slide(s) already done" in capsys.readouterr().out
    local, dist = workdir / "out_local", workdir / "out_ray"
    for name in ("summary.json", "summary.csv", "report.html", "s0_cells.json", "s2_cells.csv", "s1_annotated.png"):
        assert (dist / name).read_bytes() == (local / name).read_bytes(), name
