"""The error contract of every tool: missing data, a bad config value or a missing model
prints one line (``error: ...``) and exits 2; a real bug raises; ``leukoscan <verb>`` is
the same command as ``tools/<verb>.py``."""

from __future__ import annotations

import pytest
from detect_fixtures import make_untrained_models
from PIL import Image

from leukoscan.synthetic import make_smear


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An untrained tiny detector weights file and classifier run folder (enough to load)."""
    root = tmp_path_factory.mktemp("models")
    slide = root / "slide.png"
    Image.fromarray(make_smear(96, 128, seed=1).image).save(slide)
    return {
        **make_untrained_models(root),
        "slide": str(slide),
        "empty": str(tmp_path_factory.mktemp("empty_data_root")),
    }


# tool -> {case: argv}; {det}, {clf}, {data}, {slide}, {empty}, {tmp} are filled in per test.
CASES = {
    "train_detector": {
        "missing data": ["--data", "all_idb1", "--data-root", "{empty}", "--scratch", "project={tmp}"],
        "bad config value": ["epochs=ten", "project={tmp}"],
        "missing model": ["--resume", "{tmp}/no_such_run"],
    },
    "train_classifier": {
        "missing data": ["--data", "all_idb2", "--data-root", "{empty}", "project={tmp}"],
        "bad config value": ["fit.epochs=ten", "project={tmp}"],
        "missing model": ["--model", "resnet19", "project={tmp}"],
    },
    "infer": {
        "missing data": ["{tmp}/no_such_slide.png", "--detector", "{det}", "--classifier", "{clf}"],
        "bad config value": ["{slide}", "--conf", "2", "--detector", "{det}", "--classifier", "{clf}"],
        "missing model": ["{slide}", "--detector", "{tmp}/no_such_run", "--classifier", "{clf}"],
    },
    "evaluate_detector": {
        "missing data": ["--weights", "{det}", "--data", "all_idb1", "--data-root", "{empty}"],
        "bad config value": ["--weights", "{det}", "--data", "{data}", "--split", "no_such_split"],
        "missing model": ["--weights", "{tmp}/no_such.pt", "--data", "{data}"],
    },
    "evaluate_pipeline": {
        "missing data": [
            "--detector",
            "{det}",
            "--classifier",
            "{clf}",
            "--data",
            "all_idb1",
            "--data-root",
            "{empty}",
        ],
        "bad config value": ["--detector", "{det}", "--classifier", "{clf}", "--data", "{data}", "--split", "test"],
        "missing model": ["--detector", "{det}", "--classifier", "{tmp}/no_such_run"],
    },
    "prepare_data": {
        "missing data": ["all_idb1", "--data-root", "{empty}", "--out", "{tmp}/out"],
        "bad config value": ["demo", "--exclude", "x.txt", "--out", "{tmp}/out"],
    },
    "export": {
        "bad config value": ["--detector", "{det}", "--classifier", "{clf}"],  # Faster R-CNN: no ONNX export
        "missing model": ["--detector", "{tmp}/no_such_run", "--classifier", "{clf}"],
    },
    "benchmark_classifiers": {
        "missing data": ["--data", "all_idb2", "--data-root", "{empty}", "--models", "cnn", "--out", "{tmp}"],
        "bad config value": ["folds=two", "--out", "{tmp}"],
        "missing model": ["--models", "resnet19", "--out", "{tmp}"],
    },
    "train_all_pipeline": {
        "missing data": ["detector={det}", "cells_detector=full", "--data-root", "{empty}", "--name", "x"],
        "bad config value": ["cv_folds=five", "--name", "x"],
        "missing model": ["--resume", "{tmp}/no_such_run"],
    },
    "pretrain_backbone": {
        "missing data": ["--data", "txl_pbc", "--data-root", "{empty}", "project={tmp}"],
        "bad config value": ["per_class=lots", "project={tmp}"],
        "missing model": ["--arch", "resnet19", "project={tmp}"],
    },
    "bundle_weights": {
        "missing data": ["--classifier", "{tmp}/no_such_run"],
        "bad config value": ["--detector", "{det}"],  # a Faster R-CNN weights file: not a YOLO run on open data
        "missing model": ["--detector", "{tmp}/no_such_run"],
    },
}
PARAMS = [(t, c) for t, cases in CASES.items() for c in cases]


@pytest.mark.parametrize("name,case", PARAMS, ids=[f"{t}-{c.replace(' ', '_')}" for t, c in PARAMS])
def test_user_error_is_one_line_exit_2(name, case, models, tool, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # runs/ of a failed start would land here
    argv = [a.format(tmp=tmp_path, **models) for a in CASES[name][case]]
    assert tool(name).main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err


def test_every_tool_has_cases():
    from leukoscan.tools.cli import COMMANDS

    assert set(CASES) == set(COMMANDS.values())


def test_console_script_dispatches_to_the_same_command(models, tmp_path, capsys):
    from leukoscan.tools.cli import main

    assert main(["infer", str(tmp_path / "nothing.png"), "--detector", models["det"]]) == 2
    assert capsys.readouterr().err.startswith("error: no such file")
    assert main(["infr"]) == 2 and "Did you mean 'infer'" in capsys.readouterr().err
    assert main(["train-detector", "--list-models"]) == 0 and "yolov8n" in capsys.readouterr().out


def test_a_bug_is_a_traceback_not_an_exit_code(models, tool, monkeypatch):
    mod = tool("infer")

    def broken(*a, **k):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr("leukoscan.tools.infer.load_pipeline", broken)
    with pytest.raises(ValueError, match="a bug"):
        mod.main([models["slide"], "--detector", models["det"], "--classifier", models["clf"]])


def test_some_inputs_failed_is_exit_1(models, tool, tmp_path, capsys):
    assert (
        tool("infer").main(
            [
                models["slide"],
                str(tmp_path / "missing.png"),
                "--detector",
                models["det"],
                "--classifier",
                models["clf"],
                "--out",
                str(tmp_path / "o"),
                "--tile",
                "off",
            ]
        )
        == 1
    )
    assert "missing.png" in capsys.readouterr().err
