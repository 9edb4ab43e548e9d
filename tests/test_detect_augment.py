"""Geometric augmentations move the boxes with the pixels, in both the YOLO and the Faster R-CNN path."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.detect.augment import AugmentConfig, albumentations_pipeline, ultralytics_args


def _image_and_box() -> tuple[np.ndarray, list[float]]:
    img = np.zeros((64, 64, 3), np.uint8)
    img[5:15, 40:60] = 255  # one white box, x 40-60, y 5-15: every rotation/mirroring moves it elsewhere
    return img, [40.0, 5.0, 60.0, 15.0]


def _pixel_box(img: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(img[..., 0] > 127)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_ultralytics_rot90_moves_boxes_with_pixels():
    """Our 90-degree rotation runs inside ultralytics' Albumentations wrapper as a spatial transform."""
    import albumentations as A
    from ultralytics.data.augment import Albumentations
    from ultralytics.utils.instance import Instances

    rot = [t for t in ultralytics_args(AugmentConfig(rot90=1.0))["augmentations"] if isinstance(t, A.RandomRotate90)]
    wrapper = Albumentations(p=1.0, transforms=rot)
    img, box = _image_and_box()
    seen = set()
    for _ in range(12):
        labels = {
            "img": img.copy(),
            "cls": np.array([[0.0]]),
            "instances": Instances(
                np.array([box]), np.zeros((0, 1000, 2), np.float32), bbox_format="xyxy", normalized=False
            ),
        }
        out = wrapper(labels)
        inst = out["instances"]
        inst.convert_bbox("xyxy")
        inst.denormalize(64, 64)
        np.testing.assert_allclose(inst.bboxes[0], _pixel_box(out["img"]), atol=0.5)
        seen.add(tuple(np.round(inst.bboxes[0])))
    assert len(seen) >= 2  # it did rotate


@pytest.mark.parametrize("field", ["fliplr", "flipud", "rot90"])
def test_albumentations_pipeline_moves_boxes_with_pixels(field):
    off = dict(fliplr=0.0, flipud=0.0, rot90=0.0, hsv_h=0.0, hsv_s=0.0, hsv_v=0.0, scale=0.0)
    cfg = AugmentConfig(**{**off, field: 1.0})
    t = albumentations_pipeline(cfg)
    img, box = _image_and_box()
    moved = 0
    for _ in range(12):  # RandomRotate90 may draw the identity (k = 0)
        out = t(image=img, bboxes=[box], labels=[0])
        assert len(out["bboxes"]) == 1
        np.testing.assert_allclose(out["bboxes"][0], _pixel_box(out["image"]), atol=0.5)
        moved += not np.allclose(out["bboxes"][0], box)
    assert moved


def test_default_is_stock_geometry_and_presets_switch_it():
    """Default = ultralytics' stock geometry (chosen by measurement); presets set flipud/rot90."""
    from ultralytics.cfg import get_cfg

    stock = get_cfg()
    args = ultralytics_args(AugmentConfig())
    assert "augmentations" not in args  # ultralytics keeps its own default albumentations list
    for k in ("fliplr", "flipud", "hsv_h", "hsv_s", "hsv_v", "scale", "translate", "mosaic", "close_mosaic", "degrees"):
        assert args[k] == getattr(stock, k), k
    micro = AugmentConfig(preset="microscopy").resolved()
    assert (micro.flipud, micro.rot90) == (0.5, 0.5)
    assert ultralytics_args(AugmentConfig(preset="microscopy"))["flipud"] == 0.5
    assert AugmentConfig(preset="ultralytics").resolved() == AugmentConfig(preset="ultralytics")
    assert AugmentConfig(flipud=0.3).resolved().flipud == 0.3  # preset none: fields as written


@pytest.mark.parametrize(
    "kw",
    [
        {"preset": "ultralytics", "flipud": 0.3},
        {"preset": "microscopy", "rot90": 0.2},
        {"preset": "stock"},
        {"preset": False},
    ],
)
def test_preset_clash_or_unknown_is_an_error(kw):
    with pytest.raises(ValueError, match="preset"):
        AugmentConfig(**kw)


def test_preset_noaug_augments_nothing():
    """preset=noaug: the Faster R-CNN pipeline is the identity; ultralytics gets zeros and an
    empty albumentations list."""
    from ultralytics.data.augment import Albumentations
    from ultralytics.utils.instance import Instances

    cfg = AugmentConfig(preset="noaug")
    assert cfg.is_off and not AugmentConfig().is_off and not AugmentConfig(preset="microscopy").is_off
    args = ultralytics_args(cfg)
    assert args["augmentations"] == []
    assert all(args[k] == 0 for k in ("fliplr", "flipud", "hsv_h", "hsv_s", "hsv_v", "scale", "translate", "mosaic"))
    img, box = _image_and_box()
    rng = np.random.default_rng(0)
    img = (img * 0.5 + rng.integers(0, 100, img.shape)).astype(np.uint8)  # texture, so blur/CLAHE would show
    t = albumentations_pipeline(cfg)
    wrapper = Albumentations(p=1.0, transforms=args["augmentations"])
    for _ in range(20):
        out = t(image=img, bboxes=[box], labels=[0])
        np.testing.assert_array_equal(out["image"], img)
        np.testing.assert_allclose(out["bboxes"][0], box)
        labels = {
            "img": img.copy(),
            "cls": np.array([[0.0]]),
            "instances": Instances(
                np.array([box]), np.zeros((0, 1000, 2), np.float32), bbox_format="xyxy", normalized=False
            ),
        }
        np.testing.assert_array_equal(wrapper(labels)["img"], img)
    with pytest.raises(ValueError, match="preset"):
        AugmentConfig(preset="noaug", mosaic=0.5)
