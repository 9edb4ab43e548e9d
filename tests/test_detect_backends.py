"""Every registered detector trains one epoch on tiny synthetic smears, predicts, saves, loads."""

from __future__ import annotations

import numpy as np
import pytest
from detect_fixtures import NAMES, make_tiny_dataset

from leukoscan import detect
from leukoscan.detect.augment import AugmentConfig
from leukoscan.detect.base import FitArgs

IMGSZ = {"yolo": 64, "fasterrcnn": 96}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


def test_registry_names():
    assert detect.DETECTORS.list_names() == sorted(
        [
            "yolov8n",
            "yolov8s",
            "yolov8m",
            "yolov5nu",
            "yolov5su",
            "fasterrcnn_mobilenet_v3_large_fpn",
            "fasterrcnn_resnet50_fpn_v2",
        ]
    )
    with pytest.raises(ValueError, match="Valid names: .*yolov8n"):
        detect.build("yolov99", num_classes=3)


@pytest.mark.parametrize("name", detect.DETECTORS.list_names())
def test_train_one_epoch_predict_save_load(name, tiny, tmp_path):
    imgsz = IMGSZ["yolo" if name.startswith("yolo") else "fasterrcnn"]
    det = detect.build(name, num_classes=3, class_names=NAMES, pretrained=False, imgsz=imgsz, rois_per_image=16)
    seen = []
    args = FitArgs(
        data_dir=tiny,
        run_dir=tmp_path / "run",
        epochs=1,
        batch=4,
        device="cpu",
        threads=1,
        augment=AugmentConfig(),
        callbacks=[lambda e, m: seen.append((e, m))],
        verbose=False,
    )
    det.fit(args)
    assert [e for e, _ in seen] == [1]
    assert "map50" in seen[0][1] and "epoch_time_s" in seen[0][1]
    assert (tmp_path / "run" / "weights" / "last.pt").is_file()

    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    before = image.copy()
    out = det.predict(image, conf=0.01)
    np.testing.assert_array_equal(image, before)  # input not mutated
    assert out.xyxy.dtype == np.float32 and out.xyxy.shape[1] == 4
    assert set(out.data["class_name"]) <= set(NAMES)
    if len(out):
        assert out.xyxy[:, [0, 2]].max() <= 128.5 and out.xyxy[:, [1, 3]].max() <= 96.5  # original pixels

    blank = det.predict(np.full((96, 128, 3), 235, np.uint8), conf=0.6)
    assert len(blank) == 0 and blank.xyxy.shape == (0, 4) and len(blank.data["class_name"]) == 0

    saved = det.save(tmp_path / "saved.pt")
    again = detect.load(saved)
    assert again.name == name and again.class_names == NAMES and again.meta.imgsz == imgsz
    a, b = det.predict(image, conf=0.01), again.predict(image, conf=0.01)
    assert len(a) == len(b)


def test_bad_image_raises(tiny):
    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn", num_classes=3, class_names=NAMES, pretrained=False, imgsz=64
    )
    with pytest.raises(ValueError, match="RGB uint8"):
        det.predict(np.zeros((32, 32), np.uint8))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        detect.load(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable detector checkpoint"):
        detect.load(tmp_path / "junk.pt")
