"""Faster R-CNN under torchrun: 2 CPU processes on gloo, disjoint shards, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from detect_fixtures import make_tiny_dataset

from leukoscan import ddp

HERE = Path(__file__).resolve().parent


def test_world_of_one_without_torchrun(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert (ddp.world_size(), ddp.rank(), ddp.is_main()) == (1, 0, True)
    assert ddp.init("cpu") == "cpu" and ddp.broadcast({"a": 1}) == {"a": 1}
    model = object()
    assert ddp.wrap(model, "cpu") is model
    s = ddp.sampler(list(range(5)), shuffle=True, seed=0)
    assert sorted(s) == [0, 1, 2, 3, 4]  # one process sees everything, nothing dropped


def test_shards_are_disjoint_and_equal(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    shards = []
    for r in (0, 1):
        monkeypatch.setenv("RANK", str(r))
        s = ddp.sampler(list(range(7)), shuffle=True, seed=0)
        s.set_epoch(3)
        shards.append(list(s))
    assert len(shards[0]) == len(shards[1]) == 3 and not set(shards[0]) & set(shards[1])


@pytest.mark.slow
def test_frcnn_two_processes_gloo(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", n_train=4, n_val=1)  # 5 train images (one blank)
    project, logs = tmp_path / "runs", tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "LEUKOSCAN_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(k, None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(HERE / "ddp_worker.py"),
            str(data),
            str(project),
            str(logs),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((logs / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    per_epoch = 2  # 5 images, 2 ranks: 2 each per epoch (the tail image is dropped, never repeated)
    assert len(r0["indices"]) == len(r1["indices"]) == 2 * per_epoch
    for e in range(2):
        a = set(r0["indices"][e * per_epoch : (e + 1) * per_epoch])
        b = set(r1["indices"][e * per_epoch : (e + 1) * per_epoch])
        assert len(a) == len(b) == per_epoch and not a & b, (e, a, b)
    assert r1["writes"] == [], r1["writes"]  # rank 1 never touched the run folder
    assert any("weights/last.pt" in w for w in r0["writes"])
    assert [p.name for p in project.iterdir()] == ["ddp"]  # one run folder, not ddp + ddp_2
    run = project / "ddp"
    for f in ("config.yaml", "run_info.json", "weights/best.pt", "weights/last.pt", "metrics.json"):
        assert (run / f).is_file(), f
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + one row per epoch, written once


def test_yolo_ddp_epochs_are_replayed_from_results_csv(tmp_path):
    """ultralytics' DDP workers skip our callbacks: metrics.csv/W&B get the epochs from results.csv."""
    from leukoscan.detect.backends.yolo import replay_results

    (tmp_path / "results.csv").write_text(
        "epoch,time,train/box_loss,metrics/mAP50(B),metrics/mAP50-95(B),lr/pg0,lr/pg1\n"
        "1,10.5,1.2,0.1,0.05,0.01,0.01\n2,20.0,1.0,0.3,0.12,0.009,0.009\n"
    )
    got = []
    replay_results(tmp_path / "results.csv", [lambda e, m: got.append((e, m))])
    assert [e for e, _ in got] == [1, 2]
    assert got[1][1]["map50"] == 0.3 and got[1][1]["map50_95"] == 0.12 and got[1][1]["lr"] == 0.009
    assert got[0][1]["train_box_loss"] == 1.2 and got[0][1]["epoch_time_s"] == 10.5
    assert got[1][1]["epoch_time_s"] == 9.5  # results.csv times are cumulative
