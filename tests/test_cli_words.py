"""Small command-line words (issue 21): --version, one line per verb, grouped --list-models,
input discovery before the models load."""

from __future__ import annotations

from leukoscan import __version__
from leukoscan.tools.cli import COMMANDS, main


def test_version_and_one_line_per_verb(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"leukoscan {__version__}"
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    for verb in COMMANDS:
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(verb + " "))
        assert len(line.split(None, 1)[1]) > 10, line  # a description, not just the name


def test_classifier_list_is_grouped(capsys):
    assert main(["train-classifier", "--list-models"]) == 0
    out = capsys.readouterr().out
    heads = [ln for ln in out.splitlines() if not ln.startswith(" ")]
    assert "CNNs trained end to end (torch) (9):" in heads and len(heads) >= 4
    assert "handcrafted+svm" in out


def test_folder_without_images_stops_before_loading_models(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no runs/ here: loading a model would fail with "no trained model"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    assert main(["infer", str(tmp_path / "in")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no image files to process")
    assert "unsupported file type '.txt'" in err[0]  # and not "no trained model": nothing was loaded
    assert not (tmp_path / "runs").exists()


def test_infer_usage_shows_the_real_iou_default(capsys):
    from leukoscan.detect.base import NMS_IOU
    from leukoscan.tools.infer import get_args_parser

    text = get_args_parser().format_help()
    assert f"NMS IoU threshold (default {NMS_IOU})" in " ".join(text.split()) and "--iou 0.7" not in text
