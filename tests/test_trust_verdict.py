"""Model sanity (issue 21): a verdict from the run's own val metrics, run state, implicit choice."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from detect_fixtures import make_untrained_models

from leukoscan.detect.sanity import found_cells
from leukoscan.errors import MissingModelError
from leukoscan.pipeline.infer.cascade import load_pipeline
from leukoscan.pipeline.infer.provenance import model_warnings, provenance, provenance_lines
from leukoscan.verdict import (
    COMPLETE,
    INTERRUPTED,
    NOT_JUDGED,
    NOT_USABLE,
    TRAINING,
    USABLE,
    WEAK,
    classifier_verdict_from_metrics,
    detector_verdict,
    run_state,
    write_status,
)


def test_detector_verdict_levels_and_words():
    assert detector_verdict(0, 12).level == NOT_USABLE
    v = detector_verdict(0, 12, ap50=0.0038)
    assert v.text == "not usable: finds 0% of white cells at conf 0.25 (0/12 on val, AP50 0.004)"
    assert detector_verdict(7, 10).level == WEAK and detector_verdict(7, 10).text.startswith("weak: finds 70%")
    assert detector_verdict(9, 10).level == USABLE
    assert detector_verdict(0, 0).level == NOT_USABLE  # nothing to judge by is not a pass


def test_classifier_verdict_from_its_metrics():
    m = {"class_names": ["blast", "normal"], "cv": {"balanced_accuracy": {"value": 0.52}}}
    assert classifier_verdict_from_metrics(m).level == NOT_USABLE
    m["cv"]["balanced_accuracy"]["value"] = 0.91
    assert classifier_verdict_from_metrics(m).level == USABLE
    assert classifier_verdict_from_metrics({"note": "trained on everything"}).level == NOT_JUDGED


def _gt(boxes, names=("WBC", "RBC"), cats=None):
    cats = cats or [0] * len(boxes)
    return {
        "images": [{"id": 1}],
        "categories": [{"id": i, "name": n} for i, n in enumerate(names)],
        "annotations": [
            {"image_id": 1, "category_id": c, "bbox": [x1, y1, x2 - x1, y2 - y1]}
            for (x1, y1, x2, y2), c in zip(boxes, cats, strict=True)
        ],
    }


def _det(boxes, scores, names):
    return sv.Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        confidence=np.array(scores, np.float32),
        class_id=np.zeros(len(boxes), int),
        data={"class_name": np.array(names, dtype=object)},
    )


def test_found_cells_counts_white_cells_at_the_score_floor_only():
    gt = _gt([(0, 0, 10, 10), (20, 20, 30, 30), (40, 40, 50, 50)], cats=[0, 0, 1])  # two WBC, one RBC
    preds = {1: _det([(0, 0, 10, 10), (20, 20, 30, 30), (40, 40, 50, 50)], [0.9, 0.1, 0.9], ["WBC", "WBC", "RBC"])}
    assert found_cells(gt, preds) == (1, 2, "white cells")  # the 0.1 box does not count at conf 0.25
    # one box cannot find two cells; a box of another leukocyte class still finds the cell
    preds = {1: _det([(0, 0, 10, 10)], [0.9], ["blast"])}
    gt2 = _gt([(0, 0, 10, 10), (0, 0, 10, 10)], names=("leukocyte", "blast"), cats=[0, 1])
    assert found_cells(gt2, preds)[:2] == (1, 2)


def _fake_run(
    base: Path,
    name: str,
    weights: Path,
    *,
    metrics: dict | None = None,
    rel="weights/best.pt",
    epochs_done: int | None = None,
) -> Path:
    run = base / name
    (run / rel).parent.mkdir(parents=True)
    shutil.copy(weights, run / rel)
    (run / "config.yaml").write_text("epochs: 10\n")
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if epochs_done:
        (run / "metrics.csv").write_text("epoch,loss\n" + "".join(f"{e},1\n" for e in range(1, epochs_done + 1)))
    return run


def test_run_state_complete_training_interrupted(tmp_path):
    w = tmp_path / "w.pt"
    w.write_bytes(b"x")
    done = _fake_run(tmp_path, "done", w, metrics={"verdict": detector_verdict(0, 5).to_dict()})
    st = run_state(done)
    assert st.state == COMPLETE and st.verdict.level == NOT_USABLE and "MODEL NOT USABLE" in st.warning
    live = _fake_run(tmp_path, "live", w, rel="weights/last.pt", epochs_done=4)
    write_status(live, TRAINING)  # this process: alive
    st = run_state(live)
    assert (st.state, st.epoch, st.epochs) == (TRAINING, 4, 10) and st.text == "still training, epoch 4/10"
    status = json.loads((live / "status.json").read_text())
    (live / "status.json").write_text(json.dumps({**status, "pid": 2**22 + 7}))  # no such process
    assert run_state(live).state == INTERRUPTED and run_state(live).text == "interrupted at epoch 4/10"
    old = _fake_run(tmp_path, "old", w, rel="weights/last.pt")  # no status.json, no metrics.json
    assert run_state(old).state == INTERRUPTED


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_untrained_models(tmp_path_factory.mktemp("models"))


def test_implicit_choice_skips_an_unfinished_run_and_warns(models, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    det = Path(models["det"])
    base = tmp_path / "runs" / "detect"
    _fake_run(base, "old", det, metrics={"verdict": detector_verdict(0, 5, ap50=0.0038).to_dict()})
    time.sleep(0.05)
    newer = _fake_run(base, "newer", det, rel="weights/last.pt", epochs_done=4)
    os.utime(newer / "weights/last.pt")
    pipe = load_pipeline(None, models["clf"])
    assert Path(pipe.sources["detector"].run).name == "old"
    err = capsys.readouterr().err
    assert "passed over, unfinished" in err and "newer (interrupted at epoch 4/10)" in err
    prov = provenance(pipe)
    assert prov["detector"]["run_state"]["verdict"]["level"] == NOT_USABLE
    warn = model_warnings(prov)
    assert len(warn) == 1 and warn[0].startswith("detector: MODEL NOT USABLE (finds 0% of white cells")
    assert "not usable: finds 0%" in provenance_lines(prov)[0]
    # named explicitly, the unfinished run loads, and says so
    pipe = load_pipeline(str(newer), models["clf"])
    assert model_warnings(provenance(pipe))[0].startswith("detector: UNFINISHED RUN (interrupted at epoch 4/10)")


def test_implicit_choice_refuses_when_only_unfinished_runs(models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = _fake_run(tmp_path / "runs" / "detect", "busy", Path(models["det"]), rel="weights/last.pt", epochs_done=2)
    write_status(run, TRAINING)
    with pytest.raises(MissingModelError, match=r"only unfinished runs: .*busy \(still training, epoch 2/10\)"):
        load_pipeline(None, models["clf"])


def test_no_classifier_error_names_no_classifier(models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingModelError, match="--no-classifier"):
        load_pipeline(models["det"], None)


def test_swapped_runs_are_named_plainly(models, tmp_path, monkeypatch):
    from leukoscan.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    det_run = _fake_run(tmp_path / "runs" / "detect", "d", Path(models["det"]), metrics={})
    with pytest.raises(ConfigError, match="is a classifier run, not a detector: give it as --classifier"):
        load_pipeline(models["clf"], models["clf"])
    with pytest.raises(ConfigError, match="is a detector run, not a classifier: give it as --detector"):
        load_pipeline(str(det_run), str(det_run))
