"""Training entry point: run folder, resume after an interrupt, W&B offline, CLI, tiling."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from detect_fixtures import make_tiny_dataset

from leukoscan import detect
from leukoscan.detect.augment import AugmentConfig
from leukoscan.detect.train import DetectTrainConfig, train
from leukoscan.verdict import COMPLETE, INTERRUPTED, NOT_USABLE, run_state

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


def _cfg(tiny, tmp_path, model="yolov8n", epochs=2, project=None, **kw):
    imgsz = 64 if model.startswith("yolo") else 96
    return DetectTrainConfig(
        model=model,
        data=str(tiny),
        epochs=epochs,
        imgsz=imgsz,
        batch=4,
        device="cpu",
        pretrained=False,
        threads=1,
        rois_per_image=16,
        project=project or str(tmp_path / "runs"),
        **kw,
    )


def _epochs(run: Path) -> list[int]:
    with open(run / "metrics.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("model", ["yolov8n", "fasterrcnn_mobilenet_v3_large_fpn"])
def test_interrupt_then_resume_completes(model, tiny, tmp_path, monkeypatch):
    """Started with a relative --project, resumed from another working directory."""
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(tiny, tmp_path, model, project="runs", name="r", augment=AugmentConfig(preset="microscopy"))

    def stop_after_first(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt  # as if Ctrl-C hit right after epoch 1's checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[stop_after_first], progress=False)
    run = tmp_path / "runs" / "r"
    assert (run / "weights" / "last.pt").is_file() and not (run / "metrics.json").exists()
    assert _epochs(run) == [1]
    st = run_state(run)  # issue 21: an interrupted run says so (and is never picked implicitly)
    assert (st.state, st.epoch, st.epochs, st.finished) == (INTERRUPTED, 1, 2, False)
    saved = yaml.safe_load((run / "config.yaml").read_text())["augment"]
    assert (saved["preset"], saved["flipud"], saved["rot90"]) == ("microscopy", 0.5, 0.5)  # effective values

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = train(cfg, resume=run, progress=False)
    assert out == run
    assert _epochs(run) == [1, 2]
    m = json.loads((run / "metrics.json").read_text())
    assert m["epochs"] == 2 and m["pretrained"] == "false" and "per_class" in m
    # a 2-epoch model on 64 px smears finds no white cell: the run says it is not usable
    assert m["verdict"]["level"] == NOT_USABLE and m["verdict"]["text"].startswith("not usable: finds 0% of white")
    assert run_state(run).state == COMPLETE and "MODEL NOT USABLE" in run_state(run).warning
    for f in ("config.yaml", "run_info.json", "weights/best.pt"):
        assert (run / f).is_file()
    assert detect.load(run).name == model
    assert train(cfg, resume=run, progress=False) == run  # complete: nothing to do


def test_cli_wandb_offline_tiled_run_folder(tiny, tmp_path, monkeypatch):
    """One CLI run covers: run folder files, W&B offline logging, tiled training, val only at the end."""
    from leukoscan.tools import train_detector

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    rc = train_detector.main(
        [
            "--data",
            str(tiny),
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--device",
            "cpu",
            "--scratch",
            "--wandb",
            "--name",
            "cli",
            f"project={tmp_path / 'runs'}",
            "threads=1",
            "tile.enabled=on",
            "tile.size=64",
            "tile.overlap=16",
            "val=false",
        ]
    )
    assert rc == 0
    run = tmp_path / "runs" / "cli"
    for f in ("config.yaml", "run_info.json", "metrics.csv", "metrics.json", "weights/best.pt", "weights/last.pt"):
        assert (run / f).is_file(), f
    assert _epochs(run) == [1]
    assert list(run.glob("wandb/offline-run-*/run-*.wandb")), "W&B offline run files missing"
    tiles = list((run / "tiles" / "images" / "train").glob("*.jpg"))
    assert len(tiles) == 4 * 6  # 4 train images of 96x128 -> 3 x 2 tiles of 64 px (stride 48, last shifted)
    m = json.loads((run / "metrics.json").read_text())
    assert m["tile_size"] == 64 and m["pretrained"] == "false"
    det = detect.load(run)
    assert det.meta.tile_size == 64 and det.tile_for((300, 400), None) == 64 and det.tile_for((96, 128), None) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_real_signal_then_resume(tiny, tmp_path, sig):
    """A real signal mid-run (SIGINT even when inherited as ignored, as for `cmd &` from a
    script; or plain `kill`): exit 130 with the resume command; --resume then completes."""
    run = tmp_path / "runs" / "sig"
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "train_detector.py"),
        "--data",
        str(tiny),
        "--epochs",
        "4",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--device",
        "cpu",
        "--scratch",
        "--name",
        "sig",
        f"project={tmp_path / 'runs'}",
        "threads=1",
    ]
    child = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 300
    while not ((run / "metrics.csv").is_file() and _epochs(run)) and child.poll() is None:
        assert time.monotonic() < deadline, "no epoch finished in 300 s"
        time.sleep(0.05)
    child.send_signal(sig)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 130, out[-2000:]
    assert f"--resume {run}" in out
    assert (run / "weights" / "last.pt").is_file() and not (run / "metrics.json").exists()

    done = subprocess.run(cmd[:2] + ["--resume", str(run)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert _epochs(run) == [1, 2, 3, 4]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 4


def test_cli_bad_model_lists_valid_names(capsys):
    from leukoscan.tools import train_detector

    assert train_detector.main(["--model", "yolov99", "--data", "demo"]) == 2
    err = capsys.readouterr().err
    assert "yolov99" in err and "yolov8n" in err and "fasterrcnn_resnet50_fpn_v2" in err


def test_cli_bad_config_key(capsys):
    from leukoscan.tools import train_detector

    assert train_detector.main(["augment.flipup=0"]) == 2
    assert "flipud" in capsys.readouterr().err  # did-you-mean


def test_wandb_without_key_fails_clearly(tmp_path):
    """Online mode without an API key: a clear error at start (fresh process: wandb keeps global state)."""
    import os
    import subprocess

    env = {
        **os.environ,
        "WANDB_MODE": "online",
        "HOME": str(tmp_path),
        "WANDB_CONFIG_DIR": str(tmp_path / "c"),
        "WANDB_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WANDB_API_KEY", None)
    code = (
        "from pathlib import Path; from leukoscan.detect.runlog import WandbLog; "
        f"WandbLog(Path({str(tmp_path)!r}), project='p', entity=None, name='n', config={{}})"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "WANDB_MODE=offline" in r.stderr


def test_new_run_dir_never_overwrites_and_keeps_digits(tmp_path):
    from leukoscan.runs import RunDir

    def new_run_dir(*a, **kw):
        return RunDir.new(*a, **kw).path

    assert new_run_dir(tmp_path, "bench_e12") == tmp_path / "bench_e12"
    (tmp_path / "bench_e12").mkdir()
    assert new_run_dir(tmp_path, "bench_e12") == tmp_path / "bench_e12_2"  # not "bench_e2"
    (tmp_path / "bench_e12_2").mkdir()
    assert new_run_dir(tmp_path, "bench_e12") == tmp_path / "bench_e12_3"
    assert new_run_dir(tmp_path, None, default="yolov8n") == tmp_path / "yolov8n"
    assert new_run_dir(tmp_path, "bench_e12", exist_ok=True) == tmp_path / "bench_e12"


def test_yolo_training_keeps_ultralytics_raytune_callback_out(tiny, tmp_path, monkeypatch):
    """With ray installed, ultralytics would report every epoch to Ray Tune (and warn outside a Tuner)."""
    raytune = pytest.importorskip("ultralytics.utils.callbacks.raytune")
    if raytune.tune is None:
        pytest.skip("ray[tune] not importable: ultralytics adds no Ray Tune callback")
    from ultralytics.utils import SETTINGS

    calls = []
    monkeypatch.setitem(raytune.callbacks, "on_fit_epoch_end", lambda trainer: calls.append(trainer.epoch))
    monkeypatch.setitem(SETTINGS, "raytune", True)  # ultralytics' default
    train(_cfg(tiny, tmp_path, "yolov8n", epochs=1, val=False), progress=False)
    assert calls == []
    assert SETTINGS["raytune"] is True  # the user's setting is restored


@pytest.mark.parametrize("model", ["yolov8n", "fasterrcnn_mobilenet_v3_large_fpn"])
def test_training_is_deterministic_at_fixed_seed_and_threads(model, tiny, tmp_path):
    """Two runs of the same config (seed 0, one thread) give the same losses and weights."""
    import torch

    runs = [
        train(_cfg(tiny, tmp_path, model, epochs=2, project=str(tmp_path / f"p{i}")), progress=False) for i in range(2)
    ]
    rows = [list(csv.DictReader(open(r / "metrics.csv", newline=""))) for r in runs]
    keys = [k for k in rows[0][0] if "loss" in k]
    assert keys and [[r[k] for k in keys] for r in rows[0]] == [[r[k] for k in keys] for r in rows[1]]
    a, b = (torch.load(r / "weights" / "last.pt", map_location="cpu", weights_only=False) for r in runs)
    sa = a["model"].state_dict() if hasattr(a["model"], "state_dict") else a["model"]
    sb = b["model"].state_dict() if hasattr(b["model"], "state_dict") else b["model"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
