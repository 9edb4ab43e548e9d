"""The one run logger (leukoscan.runlog.RunLog): metrics.csv rows and their W&B view."""

from __future__ import annotations

import csv

import numpy as np

from leukoscan.runlog import RunLog


class FakeRun:
    def __init__(self) -> None:
        self.logged: list[tuple[dict, dict]] = []

    def log(self, data, **kw):
        self.logged.append((data, kw))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_resumed_epoch_replaces_that_epoch_and_later_ones(tmp_path):
    log = RunLog(tmp_path)
    for e in (1, 2, 3):
        log({"epoch": e, "loss": 1.0 / e, "epoch_time_s": np.float32(2.5)})
    log({"epoch": 2, "loss": 0.4, "map50": 0.7})  # resumed from epoch 1: epochs 2 and 3 are redone
    rows = _rows(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[1]["loss"] == "0.4" and rows[1]["map50"] == "0.7"
    assert list(rows[0]) == ["epoch", "loss", "epoch_time_s", "map50"] and rows[0]["loss"] == "1"
    assert log.column("epoch_time_s") == [2.5]


def test_stages_fold_summaries_fixed_columns_and_wandb_view(tmp_path):
    run = FakeRun()
    log = RunLog(tmp_path, run, columns=["stage", "epoch", "train_loss", "lr", "balanced_accuracy"])
    log({"stage": "fold0", "epoch": 1, "train_loss": 0.5, "lr": None}, {"train/fold0/loss": 0.5, "lr/fold0": None})
    log({"stage": "fold0", "balanced_accuracy": 0.8})
    log({"stage": "fold0", "balanced_accuracy": 0.9})  # the fold's summary again: replaced, not added
    log({"stage": "final", "epoch": 1, "train_loss": 0.25}, {"train/final/loss": 0.25}, step=1)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["stage,epoch,train_loss,lr,balanced_accuracy", "fold0,1,0.5,,", "fold0,,,,0.9", "final,1,0.25,,"]
    assert run.logged[0] == ({"train/fold0/loss": 0.5}, {})  # None values are not sent
    assert run.logged[1] == ({"stage": "fold0", "balanced_accuracy": 0.8}, {})  # no W&B view: the row
    assert run.logged[-1] == ({"train/final/loss": 0.25}, {"step": 1})
