"""Trust model for weights: loading a model file runs no code from it unless --trust-model.

Each booby-trapped file's payload would create a marker file; the tests check the load is
refused with a one-line reason *and* that the marker was never created.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from leukoscan import classify, detect
from leukoscan.errors import BadInputError, LeukoScanError
from leukoscan.trust import UntrustedModelError, torch_load


class Payload:
    """Unpickling this calls ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _trap_pt(path: Path, marker: Path, **extra) -> Path:
    torch.save({"leukoscan": {"backend": "yolov8n"}, "model": Payload(marker), **extra}, path)
    return path


def test_booby_trapped_detector_checkpoint_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = _trap_pt(tmp_path / "evil.pt", marker)
    with pytest.raises(UntrustedModelError, match=r"evil\.pt.*system.*--trust-model"):
        detect.load(evil)
    assert not marker.exists()


def test_booby_trapped_classifier_files_do_not_run(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "model.pkl", "wb") as f:
        pickle.dump(Payload(marker), f)
    with pytest.raises(UntrustedModelError, match=r"model\.pkl: a pickle"):
        classify.load(run)
    pt = tmp_path / "pt_run"
    pt.mkdir()
    torch.save({"name": "cnn", "state_dict": Payload(marker)}, pt / "model.pt")
    with pytest.raises(UntrustedModelError, match="system"):
        classify.load(pt)
    assert not marker.exists()


def test_trust_flag_is_what_allows_a_pickle(tmp_path):
    """--trust-model is the explicit switch: the same file then loads (and its code runs)."""
    marker = tmp_path / "ran"
    with open(tmp_path / "model.pkl", "wb") as f:
        pickle.dump(Payload(marker), f)
    with pytest.raises(BadInputError, match="not a LeukoScan classifier"):  # os.system returned an int
        classify.load(tmp_path / "model.pkl", trust=True)
    assert marker.exists()


def test_ultralytics_checkpoint_loads_without_trust(tmp_path):
    """A whole ultralytics network (its layer classes) is on the allowlist; nothing else is."""
    from ultralytics import YOLO

    path = tmp_path / "y.pt"
    YOLO("yolov8n.yaml").save(str(path))
    ckpt = torch_load(path, layers=True)  # layers read as inert records, rebuilt by detect.load
    assert ckpt["model"].qualname == "ultralytics.nn.tasks.DetectionModel"
    det = detect.load(path)
    assert det.meta.backend == "yolov8n"


def test_own_classifier_formats_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(12)]
    labels = np.array([0, 1] * 6)
    for name, imgsz in (("handcrafted+rf", 32), ("cnn+rf", 32)):
        clf = classify.build(name, class_names=("blast", "normal"), imgsz=imgsz, pretrained=False)
        clf.fit(crops, labels)
        out = tmp_path / name.replace("+", "_")
        out.mkdir()
        path = clf.save(out)
        assert path.name == "model.skops"
        with open(path, "rb") as f:
            assert f.read(2) == b"PK"  # a zip of JSON + arrays, not a pickle
        back = classify.load(out)
        np.testing.assert_allclose(back.predict_proba(crops[:4]), clf.predict_proba(crops[:4]), atol=1e-6)


def test_wrong_or_random_model_files_are_one_line_errors(tmp_path):
    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes=1,
        class_names=["WBC"],
        pretrained=False,
        imgsz=64,
        rois_per_image=16,
    )
    det_pt = det.save(tmp_path / "det.pt")
    with pytest.raises(BadInputError, match="not a LeukoScan torch classifier"):
        classify.load(det_pt.rename(tmp_path / "model.pt"))
    junk = tmp_path / "junk" / "model.pt"
    junk.parent.mkdir()
    junk.write_bytes(os.urandom(2000))
    with pytest.raises(BadInputError, match="not a readable"):
        classify.load(junk.parent)
    with pytest.raises(BadInputError, match="not a readable"):
        detect.load(junk)
    bad_onnx = tmp_path / "m.onnx"
    bad_onnx.write_bytes(b"\x08\x01garbage" * 50)
    bad_onnx.with_suffix(".json").write_text('{"backend": "yolov8n", "class_names": ["WBC"], "imgsz": 64}')
    for load in (detect.load, classify.load):
        with pytest.raises(LeukoScanError, match=r"m\.(onnx|json): not a (readable ONNX model|LeukoScan ONNX sidecar)"):
            load(bad_onnx)
