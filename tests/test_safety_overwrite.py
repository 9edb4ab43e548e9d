"""Nothing the user wrote is overwritten; no output is written through a symlink; no stale ONNX twin runs."""

from __future__ import annotations

import json
import os

import pytest
from detect_fixtures import make_untrained_models
from PIL import Image

from leukoscan.errors import LeukoScanError
from leukoscan.synthetic import make_smear


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_untrained_models(tmp_path_factory.mktemp("ow_models"))


@pytest.fixture(scope="module")
def yolo_run(tmp_path_factory):
    """A YOLO run folder (untrained network, ultralytics' own checkpoint format)."""
    from ultralytics import YOLO

    run = tmp_path_factory.mktemp("yolo_run")
    (run / "weights").mkdir()
    YOLO("yolov8n.yaml").save(str(run / "weights" / "best.pt"))
    return run


def _slide(folder):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_smear(64, 80, seed=3).image).save(folder / "s.png")


def test_out_holding_the_users_files_is_refused(tmp_path, models, capsys):
    from leukoscan.tools import infer

    _slide(tmp_path / "in")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.csv").write_text("my own table\n")
    (out / "report.html").write_text("<p>my report</p>")
    code = infer.main(
        [
            str(tmp_path / "in"),
            "--detector",
            models["det"],
            "--classifier",
            models["clf"],
            "--tile",
            "off",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds files LeukoScan did not write" in err[0], err
    assert (out / "summary.csv").read_text() == "my own table\n"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.csv"]


def test_out_of_an_earlier_run_is_reused(tmp_path, models, capsys):
    from leukoscan.tools import infer

    _slide(tmp_path / "in")
    argv = [
        str(tmp_path / "in"),
        "--detector",
        models["det"],
        "--classifier",
        models["clf"],
        "--tile",
        "off",
        "--out",
        str(tmp_path / "out"),
    ]
    assert infer.main(argv) == 0
    assert infer.main(argv) == 0
    assert "skipped 1 slide" in capsys.readouterr().out


def test_export_replaces_a_symlink_never_writes_through_it(tmp_path, yolo_run):
    from leukoscan.pipeline.infer.export_onnx import export_pair

    victim = tmp_path / "precious.bin"
    victim.write_bytes(b"the user's data")
    link = yolo_run / "weights" / "best.onnx"
    link.unlink(missing_ok=True)
    link.symlink_to(victim)
    export_pair(yolo_run, None)
    assert victim.read_bytes() == b"the user's data"
    assert not link.is_symlink() and link.stat().st_size > 1000
    side = json.loads(link.with_suffix(".json").read_text())
    assert len(side["source_sha256"]) == 64


def test_stale_onnx_twin_is_refused(tmp_path, yolo_run, models):
    from leukoscan.pipeline.infer.cascade import load_pipeline
    from leukoscan.pipeline.infer.export_onnx import export_pair

    export_pair(yolo_run, None)
    load_pipeline(yolo_run, False, onnx=True)  # fresh: loads
    side = yolo_run / "weights" / "best.json"
    doc = json.loads(side.read_text())
    side.write_text(json.dumps({**doc, "source_sha256": "0" * 64}))  # as if best.pt changed since
    with pytest.raises(LeukoScanError, match="stale ONNX export"):
        load_pipeline(yolo_run, False, onnx=True)
    doc.pop("source_sha256")  # an export made before sidecars kept the hash, older than the weights
    side.write_text(json.dumps(doc))
    t = os.stat(yolo_run / "weights" / "best.onnx").st_mtime
    os.utime(yolo_run / "weights" / "best.pt", (t + 10, t + 10))
    with pytest.raises(LeukoScanError, match="stale ONNX export"):
        load_pipeline(yolo_run, False, onnx=True)
