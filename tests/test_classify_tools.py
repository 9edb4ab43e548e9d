"""Smoke tests of the classification tools on the synthetic demo_cells dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_THREADS", "1")


def test_train_classifier_cv_and_load(tmp_path, capsys, tool):
    from leukoscan import classify

    main = tool("train_classifier").main
    rc = main(
        [
            "--model",
            "handcrafted+svm",
            "--data",
            "demo_cells",
            "--imgsz",
            "48",
            "--folds",
            "2",
            "--epochs",
            "3",
            "--name",
            "hc",
            "--wandb",
            f"project={tmp_path}",
            "group_by=slide",
        ]
    )
    assert rc == 0
    assert "ignored" in capsys.readouterr().out
    run = tmp_path / "hc"
    for f in ("config.yaml", "metrics.json", "predictions.csv", "model.skops"):
        assert (run / f).is_file(), f
    m = json.loads((run / "metrics.json").read_text())
    assert m["cv"]["balanced_accuracy"]["value"] is not None and m["cv"]["n"] == m["n"]
    clf = classify.load(run)
    from leukoscan.synthetic import make_cell_crop

    p = clf.predict_proba([make_cell_crop(64, blast=True, seed=1)])
    assert p.shape == (1, 2) and clf.class_names == ("blast", "normal")


def test_train_classifier_torch_holdout(tmp_path, tool):
    main = tool("train_classifier").main
    rc = main(
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
            "cnn",
            f"project={tmp_path}",
        ]
    )
    assert rc == 0
    m = json.loads((tmp_path / "cnn" / "metrics.json").read_text())
    assert ("val" in m) or ("test" in m) or ("note" in m)
    assert (tmp_path / "cnn" / "model.pt").is_file()


def test_bad_names_exit_2(tmp_path, tool):
    main = tool("train_classifier").main
    assert main(["--model", "resnet19", f"project={tmp_path}"]) == 2
    assert main(["--model", "cnn", "fit.epochz=3"]) == 2


def test_benchmark_tool(tmp_path, tool):
    main = tool("benchmark_classifiers").main
    cfg = tmp_path / "bench.yaml"
    cfg.write_text("fit: {epochs: 1, batch: 8}\nper_model: {cnn: {imgsz: 32}}\n")
    rc = main(
        [
            "--config",
            str(cfg),
            "--data",
            "demo_cells",
            "--models",
            "handcrafted+rf,cnn",
            "--folds",
            "2",
            "--imgsz",
            "32",
            "--out",
            str(tmp_path),
            "--tag",
            "smoke",
            "group_by=slide",
            "n_boot=50",
        ]
    )
    assert rc == 0
    out = json.loads((tmp_path / "smoke.json").read_text())
    assert set(out["results"]) == {"handcrafted+rf", "cnn"}
    assert out["leakage"]["model"] in out["results"]
    md = (tmp_path / "smoke.md").read_text()
    assert "Bal.acc" in md and "Leakage check" in md
    assert np.isfinite(out["results"]["cnn"]["ece"])
    (tmp_path / "smoke.md").unlink()
    assert main(["--render", str(tmp_path / "smoke.json")]) == 0 and (tmp_path / "smoke.md").is_file()


def test_pretrain_backbone_then_features(tmp_path, tool, capsys):
    from leukoscan import classify
    from leukoscan.synthetic import make_cell_crop

    main = tool("pretrain_backbone").main
    rc = main(
        [
            "--arch",
            "cnn",
            "--data",
            "demo",
            "--imgsz",
            "32",
            "--epochs",
            "1",
            "--name",
            "pre",
            f"project={tmp_path}",
            "per_class=8",
            "fit.batch=8",
        ]
    )
    assert rc == 0
    assert "epoch 1/1: train loss" in capsys.readouterr().out  # progress of a long training
    weights = tmp_path / "pre" / "backbone.pt"
    assert weights.is_file()
    clf = classify.build("cnn+svm", pretrained=False, imgsz=32, backbone_weights=str(weights))
    imgs = [make_cell_crop(40, blast=i % 2 == 0, seed=i) for i in range(12)]
    clf.fit(imgs, np.array([i % 2 for i in range(12)]))
    assert clf.predict_proba(imgs[:3]).shape == (3, 2)
