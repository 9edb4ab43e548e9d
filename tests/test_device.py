"""--device reaches both stages (no GPU needed: the ``meta`` device stands in for CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leukoscan import classify, detect
from leukoscan.device import first_device, resolve_device
from leukoscan.errors import ConfigError
from leukoscan.pipeline.infer.cascade import Pipeline


def _devices(module: torch.nn.Module) -> set[str]:
    return {p.device.type for p in module.parameters()}


@pytest.mark.parametrize("clf_name", ["cnn", "cnn+svm"])
def test_pipeline_to_moves_both_models(clf_name):
    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn", num_classes=1, class_names=["WBC"], pretrained=False, imgsz=64
    )
    clf = classify.build(clf_name, num_classes=2, pretrained=False, class_names=["blast", "normal"])
    pipe = Pipeline(det, clf)
    assert pipe.to("meta") is pipe  # "meta": a device that is not the CPU, available everywhere
    assert _devices(det.model) == {"meta"} and det.device == "meta"
    net = clf.net if hasattr(clf, "net") else clf.extractor.net
    assert _devices(net) == {"meta"}


def test_yolo_predicts_on_its_device_in_half_precision(tmp_path):
    det = detect.build("yolov8n", num_classes=1, class_names=["WBC"], pretrained=False, imgsz=64)
    seen = {}

    class Stop(Exception):
        pass

    class FakeUltralytics:
        def predict(self, image, **kw):
            seen.update(kw)
            raise Stop

    det._model = FakeUltralytics()
    det.to("cuda:1")
    with pytest.raises(Stop):
        det.predict(np.zeros((32, 32, 3), np.uint8), tile=0)
    assert seen["device"] == "1" and (seen.get("quantize") == 16 or seen.get("half") is True)
    seen.clear()
    det.to("cpu")
    with pytest.raises(Stop):
        det.predict(np.zeros((32, 32, 3), np.uint8), tile=0)
    assert seen["device"] == "cpu" and "quantize" not in seen and "half" not in seen  # no deprecation warning


def test_resolve_device_lists_and_missing_gpus(monkeypatch):
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ConfigError, match="CUDA"):
            resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("1") == "cuda:1" and resolve_device("cuda") == "cuda"
    assert resolve_device("0,1") == "0,1" and resolve_device("cuda:0,1") == "0,1"
    assert first_device("0,1") == "cuda:0" and first_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match="2 CUDA device"):
        resolve_device("0,2")
    with pytest.raises(ConfigError, match="GPU indices"):
        resolve_device("0,x")


def test_infer_device_flag_reaches_the_pipeline(tmp_path, monkeypatch):
    from PIL import Image

    from leukoscan.synthetic import make_smear
    from leukoscan.tools import infer

    Image.fromarray(make_smear(48, 64, seed=0).image).save(tmp_path / "a.png")
    asked = []

    def fake_load(*a, **kw):
        asked.append(kw.get("device"))
        raise SystemExit(0)

    monkeypatch.setattr(infer, "load_pipeline", fake_load)
    for engine in ("local", "ray"):
        with pytest.raises(SystemExit):
            infer.main([str(tmp_path / "a.png"), "--device", "cpu", "--engine", engine, "--out", str(tmp_path / "o")])
    assert asked == ["cpu", "cpu"]


@pytest.mark.parametrize(
    "tool",
    [
        "infer",
        "evaluate_pipeline",
        "evaluate_detector",
        "train_detector",
        "train_classifier",
        "benchmark_classifiers",
        "pretrain_backbone",
    ],
)
def test_every_model_tool_has_a_device_flag(tool):
    import importlib

    parser = importlib.import_module(f"leukoscan.tools.{tool}").get_args_parser()
    assert "--device" in parser.format_help()


def test_multi_gpu_training_is_checked_by_the_backend_kind(monkeypatch):
    """Faster R-CNN with a device list is refused (one process per GPU: torchrun); YOLO under torchrun too."""
    from leukoscan import ddp
    from leukoscan.detect.train import DetectTrainConfig, _check_multi_device

    with pytest.raises(ConfigError, match="torchrun"):
        _check_multi_device(DetectTrainConfig(model="fasterrcnn_mobilenet_v3_large_fpn", device="0,1"))
    _check_multi_device(DetectTrainConfig(model="yolov8n", device="0,1"))  # ultralytics runs its own DDP
    monkeypatch.setattr(ddp, "world_size", lambda: 2)
    with pytest.raises(ConfigError, match="do not start YOLO under torchrun"):
        _check_multi_device(DetectTrainConfig(model="yolov8n"))
