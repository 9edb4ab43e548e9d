"""Every pipeline setting has one home, and which value wins is explicit (issue 19).

For each of margin, conf, blast threshold, reject and flag %: typed next to ``--pipeline`` it
is used and the outputs' provenance names it ("set by --flag, pipeline chose X"); not typed,
the trained pipeline's own choice is used; out of range, ``PipelineConfig`` / ``SlideRules``
raise ConfigError from the Python API (and the command exits 2 naming the flag).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from standins import AlternatingClassifier, TruthDetector, write_smear

from leukoscan.errors import ConfigError
from leukoscan.pipeline.infer import seam
from leukoscan.pipeline.infer.cascade import load_pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.report.summary import SlideRules

#: what the trained pipeline chose (pipeline.json), and a different value a user types
CHOSEN = {"margin": 0.2, "conf": 0.05, "blast_threshold": 0.4, "reject": 0.9}
TYPED = {"margin": 0.35, "conf": 0.5, "blast_threshold": 0.7, "reject": 0.6}
FLAGS = {"margin": "--margin", "conf": "--conf", "blast_threshold": "--blast-threshold", "reject": "--reject"}
OUT_OF_RANGE = {"margin": -0.1, "conf": 7.0, "blast_threshold": 3.0, "reject": 1.5}


class RecordingDetector(TruthDetector):
    """The stand-in detector, remembering the score threshold it was run at."""

    seen_conf: list[float] = []

    def predict(self, image, *, conf=0.25, iou=0.5, tile=None):
        RecordingDetector.seen_conf.append(conf)
        return super().predict(image, conf=conf, iou=iou, tile=tile)


@pytest.fixture()
def trained(tmp_path, monkeypatch):
    """A train-all-pipeline folder whose models load as the stand-ins (no training)."""
    run = tmp_path / "allpipe"
    run.mkdir()
    (run / "det.pt").write_bytes(b"detector")
    (run / "clf.skops").write_bytes(b"classifier")
    rng = np.random.default_rng(0)
    y = np.array(["blast", "normal", "none"] * 20, dtype=object)
    x = seam.feature_matrix(rng.uniform(0, 1, 60), rng.uniform(0, 1, 60), rng.uniform(0, 1, 60))
    seam.Fusion(chosen_by="test").fit(x, y).save(run / "fusion.json")
    spec = {
        "detector": str(run / "det.pt"),
        "classifier": str(run / "clf.skops"),
        "fusion": str(run / "fusion.json"),
        "inputs": "detector+classifier",
        "chosen_by": "test",
        **CHOSEN,
    }
    (run / "pipeline.json").write_text(json.dumps(spec))
    RecordingDetector.seen_conf = []
    monkeypatch.setattr("leukoscan.detect.load", lambda path, trust=False: RecordingDetector())
    monkeypatch.setattr("leukoscan.classify.load", lambda path, trust=False: AlternatingClassifier())
    write_smear(tmp_path / "in" / "a.png")
    return run


def _infer(tool, tmp_path, run, *flags):
    out = tmp_path / "out"
    rc = tool("infer").main([str(tmp_path / "in"), "--pipeline", str(run), "--out", str(out), *flags])
    return rc, out


def _in_effect(prov: dict, name: str) -> float:
    return {
        "margin": prov["crop_margin"],
        "conf": prov["thresholds"]["conf"],
        "blast_threshold": prov["thresholds"]["blast_threshold"],
        "reject": prov["fusion"]["reject"],
    }[name]


@pytest.mark.parametrize("name", sorted(CHOSEN))
def test_a_flag_typed_next_to_pipeline_overrides_it_and_says_so(name, trained, tmp_path, tool, capsys):
    rc, out = _infer(tool, tmp_path, trained, FLAGS[name], str(TYPED[name]))
    assert rc == 0
    text = f"{name} {TYPED[name]:g} set by {FLAGS[name]}, pipeline chose {CHOSEN[name]:g}"
    assert text in capsys.readouterr().out  # the console header
    for prov in (
        json.loads((out / "summary.json").read_text())["provenance"],
        json.loads((out / "a_cells.json").read_text())["provenance"],
    ):
        assert _in_effect(prov, name) == TYPED[name]
        assert prov["overrides"] == {
            name: {"value": TYPED[name], "set_by": FLAGS[name], "pipeline_chose": CHOSEN[name]}
        }
    assert text in (out / "report.html").read_text()
    pipe = load_pipeline(cfg=PipelineConfig(**{name: TYPED[name]}), pipeline=trained, typed={name: FLAGS[name]})
    assert getattr(pipe.cfg, name) == TYPED[name]  # the one value the pipeline reads
    assert {k: getattr(pipe.cfg, k) for k in CHOSEN if k != name} == {k: v for k, v in CHOSEN.items() if k != name}
    if name == "conf":
        assert set(RecordingDetector.seen_conf) == {TYPED["conf"]}  # the detector ran at it


@pytest.mark.parametrize("name", sorted(CHOSEN))
def test_not_typed_the_pipeline_chooses(name, trained, tmp_path, tool):
    rc, out = _infer(tool, tmp_path, trained)
    assert rc == 0
    prov = json.loads((out / "summary.json").read_text())["provenance"]
    assert _in_effect(prov, name) == CHOSEN[name] and prov["overrides"] == {}
    assert getattr(load_pipeline(pipeline=trained).cfg, name) == CHOSEN[name]
    if name == "conf":
        assert set(RecordingDetector.seen_conf) == {CHOSEN["conf"]}


@pytest.mark.parametrize("name", sorted(CHOSEN))
def test_out_of_range_is_a_config_error_from_the_api_and_the_cli(name, trained, tmp_path, tool, capsys):
    with pytest.raises(ConfigError, match=name):
        PipelineConfig(**{name: OUT_OF_RANGE[name]})
    rc, out = _infer(tool, tmp_path, trained, FLAGS[name], str(OUT_OF_RANGE[name]))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"error: {FLAGS[name]}: ") and len(err.splitlines()) == 1
    assert not (out / "summary.json").exists()


def test_flag_pct_typed_used_and_named_default_otherwise_range_checked(trained, tmp_path, tool, capsys):
    rc, out = _infer(tool, tmp_path, trained, "--flag-pct", "35")
    assert rc == 0 and "flag >= 35%" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["thresholds"]["flag_pct"] == 35
    assert [s["flag_pct"] for s in summary["slides"]] == [35]
    assert "flag_pct" not in summary["provenance"]["overrides"]  # a slide rule, not a pipeline choice

    write_smear(tmp_path / "again" / "in" / "a.png")
    rc, out2 = _infer(tool, tmp_path / "again", trained)
    assert rc == 0
    default = SlideRules().flag_pct
    assert json.loads((out2 / "summary.json").read_text())["provenance"]["thresholds"]["flag_pct"] == default

    with pytest.raises(ConfigError, match="flag_pct"):
        SlideRules(flag_pct=150)
    rc, _ = _infer(tool, tmp_path / "again", trained, "--flag-pct", "-5")
    assert rc == 2 and capsys.readouterr().err.startswith("error: --flag-pct: ")


def test_reject_without_a_trained_pipeline_is_refused(tmp_path, tool, capsys, monkeypatch):
    monkeypatch.setattr("leukoscan.detect.load", lambda path, trust=False: TruthDetector())
    monkeypatch.setattr("leukoscan.classify.load", lambda path, trust=False: AlternatingClassifier())
    write_smear(tmp_path / "in" / "a.png")
    (tmp_path / "det.pt").write_bytes(b"d")
    (tmp_path / "clf.skops").write_bytes(b"c")
    rc = tool("infer").main(
        [
            str(tmp_path / "in"),
            "--detector",
            str(tmp_path / "det.pt"),
            "--classifier",
            str(tmp_path / "clf.skops"),
            "--out",
            str(tmp_path / "out"),
            "--reject",
            "0.5",
        ]
    )
    assert rc == 2 and "--reject applies to a trained pipeline's fusion only" in capsys.readouterr().err


def test_evaluate_pipeline_and_prepare_data_share_the_flags(tool):
    evaluate = {a.dest: a.default for a in tool("evaluate_pipeline").get_args_parser()._actions}
    infer = {a.dest: a.default for a in tool("infer").get_args_parser()._actions}
    prepare = {a.dest: a.default for a in tool("prepare_data").get_args_parser()._actions}
    for name in ("margin", "conf", "blast_threshold", "reject", "flag_pct"):
        assert name in evaluate and name in infer and evaluate[name] is None and infer[name] is None
    assert "margin" in prepare and prepare["margin"] is None
