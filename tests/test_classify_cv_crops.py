"""Grouped CV never splits a group; crops at image borders keep their size; preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from leukoscan.classify.crops import crop_detections, whole_image_box
from leukoscan.classify.cv import grouped_stratified_kfold, random_kfold, random_split
from leukoscan.classify.preprocess import (
    STEPS,
    AugmentCfg,
    PreprocessCfg,
    apply_steps,
    batch_tensor,
    build_augment,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_cv_never_shares_a_group(seed):
    rng = np.random.default_rng(seed)
    groups = [f"slide{g}" for g in rng.integers(0, 15, 120)]
    labels = rng.integers(0, 2, 120)
    folds = grouped_stratified_kfold(labels, groups, 5, seed=seed)
    assert len(folds) == 5
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(120))  # each item tested exactly once
    g = np.array(groups)
    for tr, te in folds:
        assert not set(g[tr]) & set(g[te])


def test_empty_group_is_its_own_group_and_too_few_groups_raise():
    folds = grouped_stratified_kfold(np.array([0, 1] * 5), [""] * 10, 5)
    assert all(len(te) == 2 for _, te in folds)
    with pytest.raises(ValueError, match="groups"):
        grouped_stratified_kfold(np.array([0, 1, 0, 1]), ["a", "a", "b", "b"], 5)


def test_random_splits_cover_everything():
    y = np.array([0, 1] * 10)
    assert sorted(np.concatenate([te for _, te in random_kfold(y, 4)]).tolist()) == list(range(20))
    tr, te = random_split(20, 0.25, labels=y)
    assert len(te) == 5 and not set(tr) & set(te)


def _image():
    img = np.zeros((100, 120, 3), np.uint8)
    img[..., 0] = np.arange(120, dtype=np.uint8)[None, :]
    return img


@pytest.mark.parametrize("box", [[0, 0, 20, 30], [100, 80, 120, 100], [-10, -5, 15, 12], [110, 0, 130, 40]])
def test_border_crops_keep_size(box):
    img = _image()
    before = img.copy()
    (native,) = crop_detections(img, np.array([box], float), margin=0.2)
    side = round(max(box[2] - box[0], box[3] - box[1]) * 1.4)
    assert native.shape == (side, side, 3)
    (fixed,) = crop_detections(img, np.array([box], float), margin=0.2, size=48)
    assert fixed.shape == (48, 48, 3) and fixed.dtype == np.uint8
    assert np.array_equal(img, before)


def test_crop_from_supervision_detections_and_constant_pad():
    import supervision as sv

    det = sv.Detections(xyxy=np.array([[0, 0, 10, 10], [50, 50, 70, 60]], np.float32), class_id=np.array([0, 0]))
    crops = crop_detections(_image(), det, margin=0.5, size=32, pad_value=255)
    assert len(crops) == 2 and all(c.shape == (32, 32, 3) for c in crops)
    assert crop_detections(_image(), sv.Detections.empty(), margin=0.1) == []
    (c,) = crop_detections(_image(), np.array([[0, 0, 10, 10]], float), margin=0.5, pad_value=255)
    assert (c[0, 0] == 255).all()  # padded corner


def test_whole_image_and_malformed_boxes():
    img = _image()[:, :100]
    (c,) = crop_detections(img, whole_image_box(img), margin=0.0)
    assert c.shape == (100, 100, 3) and np.array_equal(c, img)
    with pytest.raises(ValueError, match="malformed"):
        crop_detections(img, np.array([[10, 10, 5, 20]], float), margin=0.15)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_steps_keep_shape(step):
    img = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)
    out = apply_steps(img, [step])
    assert out.shape == img.shape and out.dtype == np.uint8


def test_unknown_step_and_augment_size():
    with pytest.raises(ValueError, match="Valid"):
        apply_steps(np.zeros((8, 8, 3), np.uint8), ["sharpen"])
    aug = build_augment(AugmentCfg(), 32)
    out = aug(image=np.zeros((32, 32, 3), np.uint8))["image"]
    assert out.shape == (32, 32, 3)
    assert build_augment(AugmentCfg(enabled=False), 32) is None
    x = batch_tensor([np.zeros((50, 40, 3), np.uint8)], PreprocessCfg(input_size=24, steps=("logmh",)))
    assert tuple(x.shape) == (1, 3, 24, 24)
