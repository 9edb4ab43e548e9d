"""Splits are law: no training command fits on (or reads) a ``test`` item, and outputs name
the splits they fitted and scored. Data: the synthetic ``demo_cells`` set (20 slides:
train 48 crops, val 16, test 16)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from leukoscan.data.fit_splits import plan_fit
from leukoscan.errors import ConfigError

N_TRAIN, N_VAL, N_TEST = 48, 16, 16


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_THREADS", "1")


@pytest.fixture
def reads(monkeypatch):
    """Every crop file decoded by the classifier data loader."""
    import leukoscan.classify.data as data

    seen: list[str] = []
    real = data.read_image

    def spy(path, *a, **kw):
        seen.append(str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(data, "read_image", spy)
    return seen


def _test_files() -> set[str]:
    from leukoscan.data import resolve

    folder = resolve("demo_cells")
    with open(folder / "index.csv", newline="") as f:
        return {r["file"] for r in csv.DictReader(f) if r["split"] == "test"}


def _scaler_n(run) -> int:
    from leukoscan import classify

    est = classify.load(run).estimator
    scaler = est.steps[0][1] if hasattr(est, "steps") else est
    return int(scaler.n_samples_seen_)


def _pred_rows(run) -> list[dict[str, str]]:
    with open(run / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_plan_fit_rules():
    p = plan_fit(["train", "val", "test", "", "train"])
    assert p.fit.tolist() == [0, 4] and p.held_out == 1 and p.left_out == {"(no split)": 1, "test": 1, "val": 1}
    assert "left alone" in p.describe()
    whole = plan_fit(["", "", ""])
    assert whole.unsplit_whole and len(whole.fit) == 3 and "no split column" in whole.describe()
    with pytest.raises(ConfigError, match="test"):
        plan_fit(["train"], ("train", "test"))


@pytest.mark.parametrize("folds", ["2", "0"])
def test_train_classifier_never_reads_test(tmp_path, tool, reads, capsys, folds):
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
            folds,
            "--name",
            "r",
            f"project={tmp_path}",
            "group_by=slide",
            "n_boot=20",
            "fold_seeds=2",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "fitted on: split train (48 items)" in out and "left alone" in out
    run = tmp_path / "r"
    assert _scaler_n(run) == N_TRAIN  # the final model saw the train split only
    test_files = _test_files()
    assert not any(p.endswith(t) for p in reads for t in test_files)  # no test crop was even decoded
    rows = _pred_rows(run)
    assert {r["split"] for r in rows} == ({"train"} if folds == "2" else {"val"})
    assert {r["fitted_on"] for r in rows} == {"train"}
    m = json.loads((run / "metrics.json").read_text())
    assert m["splits"]["fit_splits"] == ["train"] and m["splits"]["held_out_split"] == {"test": N_TEST}
    if folds == "0":
        assert m["score_split"] == "val" and len(rows) == N_VAL and "scored: split val" in out
    else:
        assert m["cv"]["n"] == N_TRAIN and len(m["cv"]["repeats"]["fold_seeds"]) == 2


def test_train_classifier_fit_splits_flag(tmp_path, tool, capsys):
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
            "0",
            "--fit-splits",
            "train,val",
            "--name",
            "tv",
            f"project={tmp_path}",
            "n_boot=20",
            "score_split=",
        ]
    )
    assert rc == 0
    assert "fitted on: split train+val (64 items)" in capsys.readouterr().out
    assert _scaler_n(tmp_path / "tv") == N_TRAIN + N_VAL
    assert (
        main(
            ["--model", "handcrafted+svm", "--data", "demo_cells", "--fit-splits", "train,test", f"project={tmp_path}"]
        )
        == 2
    )


def test_benchmark_cv_inside_dev_splits(tmp_path, reads):
    from leukoscan.experiments.classifier_benchmark import BenchConfig, run_benchmark

    lines: list[str] = []
    out = run_benchmark(
        BenchConfig(
            data="demo_cells",
            models=("handcrafted+svm",),
            folds=2,
            fold_seeds=2,
            group_by="slide",
            imgsz=48,
            out=str(tmp_path),
            tag="b",
            n_boot=20,
            leakage_check=False,
        ),
        log=lines.append,
    )
    assert out["n"] == N_TRAIN + N_VAL and out["splits"]["held_out_split"] == {"test": N_TEST}
    assert "split train+val" in lines[0]
    assert not any(p.endswith(t) for p in reads for t in _test_files())
    rep = out["results"]["handcrafted+svm"]["repeats"]
    assert rep["fold_seeds"] == [0, 1] and len(rep["balanced_accuracy"]["per_seed"]) == 2
    assert "fold seeds" in (tmp_path / "b.md").read_text()


def test_detector_and_pipeline_refuse_test_split():
    from leukoscan.detect.train import DetectTrainConfig
    from leukoscan.pipeline.train.allpipe import AllPipelineConfig, train_all_pipeline

    with pytest.raises(ConfigError, match="test"):
        DetectTrainConfig(train_split="test")
    with pytest.raises(ConfigError, match="test"):
        DetectTrainConfig(val_split="test")
    with pytest.raises(ConfigError, match="test"):
        train_all_pipeline(AllPipelineConfig(split="test"), "unused-run-dir-never-created")


def test_cross_validate_drops_test_items_given_in_memory():
    """Even a CellSet handed in with test items is cross-validated inside its fit splits."""
    from leukoscan.classify.data import resolve_cells
    from leukoscan.classify.train import TrainConfig, cross_validate

    cells = resolve_cells("demo_cells")
    assert len(cells) == N_TRAIN + N_VAL + N_TEST
    res = cross_validate(TrainConfig(folds=2, fold_seeds=1, group_by="slide", imgsz=48, n_boot=0), cells)
    assert len(res.cells) == N_TRAIN and set(res.cells.splits) == {"train"} and np.all(res.fold >= 0)
