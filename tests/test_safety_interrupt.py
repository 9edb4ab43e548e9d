"""An interrupt during the final validation of train-detector leaves a run that --resume finishes.

The training runs in a child process (tests/signal_worker.py) that signals itself during
ultralytics' final validation of best.pt or during LeukoScan's final COCO evaluation; the
child must exit 130 with the resume hint, and ``train-detector --resume`` must then write
metrics.json without training again.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from detect_fixtures import make_tiny_dataset

WORKER = Path(__file__).with_name("signal_worker.py")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("sig") / "data")


@pytest.mark.parametrize(
    "sig,where",
    [
        ("SIGTERM", "ultralytics"),
        pytest.param("SIGINT", "ultralytics", marks=pytest.mark.slow),
        pytest.param("SIGINT", "leukoscan", marks=pytest.mark.slow),
    ],
)
def test_interrupt_in_final_validation_then_resume_finishes(sig, where, tiny, tmp_path, monkeypatch, capsys):
    from leukoscan.tools import train_detector

    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLO_OFFLINE": "1", "WANDB_MODE": "offline"}
    p = subprocess.run(
        [sys.executable, str(WORKER), str(tiny), str(tmp_path / "runs"), sig, where],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
    )
    run = tmp_path / "runs" / "r"
    assert p.returncode == 130, p.stderr[-2000:]
    assert "--resume" in p.stdout and not (run / "metrics.json").exists()
    monkeypatch.chdir(tmp_path)
    assert train_detector.main(["--resume", str(run), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and "map50" in metrics
    with open(run / "metrics.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1"]  # no epoch trained twice
    if where == "ultralytics":
        assert "all epochs done" in out
