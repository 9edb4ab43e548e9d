"""Values out of range are one-line errors from the config dataclasses, before torch sees them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leukoscan.errors import BadInputError, ConfigError


@pytest.mark.parametrize(
    "kw",
    [
        {"margin": 1e9},
        {"margin": -0.1},
        {"conf": math.nan},
        {"iou": 1.5},
        {"tile": 1},
        {"blast_threshold": math.inf},
        {"max_det": 0},
    ],
)
def test_pipeline_config_ranges(kw):
    from leukoscan.pipeline.infer.settings import PipelineConfig

    with pytest.raises(ConfigError, match=next(iter(kw))):
        PipelineConfig(**kw)


def test_pipeline_config_defaults_and_edges_are_fine():
    from leukoscan.pipeline.infer.settings import PipelineConfig

    PipelineConfig()
    PipelineConfig(tile=0, margin=0.0, conf=0.0, iou=1.0)
    PipelineConfig(tile=32, margin=2)


@pytest.mark.parametrize("device", ["potato", "cuda:x", "0;rm", "cpu cpu x", "../cuda"])
def test_device_strings_checked_by_shape(device):
    from leukoscan.device import check_device, resolve_device

    with pytest.raises(ConfigError, match="device"):
        check_device(device)
    with pytest.raises(ConfigError, match="device"):
        resolve_device(device)
    assert resolve_device("cpu") == "cpu" and check_device(" 0, 1") == "0,1"


def test_train_config_imgsz_and_device():
    from leukoscan.detect.train import DetectTrainConfig

    with pytest.raises(ConfigError, match="imgsz must be <= 4096"):
        DetectTrainConfig(imgsz=100000)
    with pytest.raises(ConfigError, match="device 'potato'"):
        DetectTrainConfig(device="potato")
    with pytest.raises(ConfigError, match="epochs"):
        DetectTrainConfig(epochs=math.nan)


def test_empty_array_to_the_python_api():
    from leukoscan.detect.base import check_image

    with pytest.raises(BadInputError, match="empty image"):
        check_image(np.zeros((0, 0, 3), np.uint8))


def test_fusion_with_nan_inf_or_wrong_shape_is_refused(tmp_path):
    from leukoscan.pipeline.infer.cascade import load_fusion

    f = tmp_path / "f.json"
    f.write_text('{"coef": [[0.1, 0.2, 0.3], [0, 0, 0], [0, 0, 0]], "intercept": [0, 0, 0]}')
    load_fusion(f)
    for text, says in (
        ('{"coef": [[NaN, 0, 0], [0, 0, 0], [0, 0, 0]], "intercept": [0, 0, 0]}', "NaN is not a number"),
        ('{"coef": [[1e999, 0, 0], [0, 0, 0], [0, 0, 0]], "intercept": [0, 0, 0]}', "not finite"),
        ('{"coef": [[1, 0], [0, 0]], "intercept": [0, 0]}', "shape"),
    ):
        f.write_text(text)
        with pytest.raises(ConfigError, match=says):
            load_fusion(f)


def test_folds_larger_than_the_groups():
    from leukoscan.classify.cv import make_folds

    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="folds=10"):
        make_folds(labels, ["a", "b", "c", "d"], 10)
    with pytest.raises(ConfigError, match="folds=10"):
        make_folds(labels, None, 10, split="random")
