"""The COCO evaluator on hand-made predictions, centroid hits, tiling and sliced inference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leukoscan.detect.base import empty_detections, make_detections
from leukoscan.detect.evaluate import centroid_hits, coco_evaluate, coco_results, match_centroids
from leukoscan.detect.tiling import boxes_in_tile, sliced_predict, tile_grid

NAMES = ["WBC", "RBC"]


def _gt():
    """Image 1: WBC box + RBC box; image 2: one RBC box (COCO xywh pixels)."""
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 200, "height": 100},
            {"id": 2, "file_name": "b.jpg", "width": 200, "height": 100},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [100, 20, 30, 30], "area": 900, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "WBC"}, {"id": 2, "name": "RBC"}],
    }


def _det(rows):
    """rows: (x1, y1, x2, y2, score, class_id)."""
    a = np.asarray(rows, np.float32).reshape(-1, 6)
    return make_detections(a[:, :4], a[:, 4], a[:, 5].astype(int), NAMES)


def test_perfect_predictions_score_one():
    preds = {1: _det([(10, 10, 50, 50, 0.9, 0), (100, 20, 130, 50, 0.8, 1)]), 2: _det([(50, 50, 80, 80, 0.7, 1)])}
    m = coco_evaluate(_gt(), coco_results(_gt(), preds))
    assert m.map50 == pytest.approx(1.0) and m.map50_95 == pytest.approx(1.0)
    assert m.recall50 == pytest.approx(1.0)
    assert m.per_class["WBC"]["ap50"] == pytest.approx(1.0) and m.per_class["RBC"]["n_gt"] == 2


def test_known_false_positive_and_miss():
    # WBC perfect. RBC: image 1 hit (0.9), a false positive ranked second (0.8), image 2 missed.
    # RBC precision/recall: (1.0, 0.5) then (0.5, 0.5) -> COCO 101-point AP = 51/101 at every IoU.
    preds = {
        1: _det([(10, 10, 50, 50, 0.9, 0), (100, 20, 130, 50, 0.9, 1), (150, 60, 190, 95, 0.8, 1)]),
        2: empty_detections(),
    }
    m = coco_evaluate(_gt(), coco_results(_gt(), preds))
    assert m.per_class["RBC"]["ap50"] == pytest.approx(51 / 101)
    assert m.per_class["RBC"]["ap"] == pytest.approx(51 / 101)
    assert m.per_class["RBC"]["recall50"] == pytest.approx(0.5)
    assert m.map50 == pytest.approx((1 + 51 / 101) / 2)
    assert m.to_dict()["n_predictions"] == 3


def test_no_predictions_is_zero_not_error():
    m = coco_evaluate(_gt(), coco_results(_gt(), {1: empty_detections(), 2: empty_detections()}))
    assert m.map50 == 0.0 and m.per_class["WBC"]["ap50"] == 0.0


def test_wrong_class_does_not_count():
    preds = {1: _det([(10, 10, 50, 50, 0.9, 1)])}  # WBC box labelled RBC
    m = coco_evaluate(_gt(), coco_results(_gt(), preds))
    assert m.per_class["WBC"]["ap50"] == 0.0


def test_centroid_matching_is_one_to_one():
    boxes = np.array([[0, 0, 100, 100]], float)
    assert match_centroids(np.array([[10, 10], [20, 20]]), boxes) == 1  # one box, two centroids
    two = np.array([[0, 0, 100, 100], [0, 0, 30, 30]], float)
    # greedy by distance could give the big box to (20, 20) and lose (80, 80); max matching finds 2
    assert match_centroids(np.array([[20, 20], [80, 80]]), two) == 2
    assert match_centroids(np.zeros((0, 2)), boxes) == 0


def test_centroid_hits_recall_precision():
    cents = {"a.jpg": {"blast": [[20, 20], [150, 50]]}, "b.jpg": {"blast": []}}
    names = ["blast", "leukocyte"]
    preds = {
        "a.jpg": make_detections(
            np.array([[0, 0, 40, 40], [140, 40, 160, 60], [60, 0, 90, 30]]),
            np.array([0.9, 0.9, 0.9]),
            np.array([0, 1, 0]),
            names,
        ),
        "b.jpg": make_detections(np.array([[0, 0, 10, 10]]), np.array([0.5]), np.array([0]), names),
    }
    res = centroid_hits(cents, preds, {"a.jpg": (100, 200), "b.jpg": (100, 200)})["blast"]
    # (20,20) hit by a blast box; (150,50) only inside a leukocyte box -> miss. 3 blast boxes, 1 match.
    assert (res["tp"], res["n_gt"], res["n_pred"]) == (1, 2, 3)
    assert res["recall"] == pytest.approx(0.5) and res["precision"] == pytest.approx(1 / 3)
    assert res["by_image_size"]["200x100"]["tp"] == 1


def test_tile_grid_covers_image_without_padding():
    wins = tile_grid(1000, 1500, 640, 128)
    assert all(x1 - x0 == 640 and y1 - y0 == 640 for x0, y0, x1, y1 in wins)
    cover = np.zeros((1000, 1500), bool)
    for x0, y0, x1, y1 in wins:
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    assert tile_grid(100, 120, 640, 128) == [(0, 0, 120, 100)]
    with pytest.raises(ValueError):
        tile_grid(100, 100, 64, 64)


def test_border_rule_keeps_mostly_visible_boxes_clipped():
    boxes = np.array([[90, 10, 130, 50], [70, 10, 110, 50], [10, 10, 30, 30]], np.float32)  # 25%, 75%, 100% in
    kept, labels = boxes_in_tile(boxes, ["a", "b", "c"], (0, 0, 100, 100), min_visibility=0.5)
    assert labels == ["b", "c"]
    np.testing.assert_allclose(kept[0], [70, 10, 100, 50])
    kept, labels = boxes_in_tile(boxes, ["a", "b", "c"], (50, 0, 150, 100))  # tile coordinates
    assert labels == ["a", "b"]
    np.testing.assert_allclose(kept[0], [40, 10, 80, 50])


def test_sliced_predict_maps_back_and_merges():
    """A stand-in detector that finds one fixed dark square: slicing returns it once, in slide pixels."""
    img = np.full((300, 500, 3), 230, np.uint8)
    img[120:160, 260:300] = 40

    def fn(tile):
        ys, xs = np.nonzero(tile[..., 0] < 100)
        if len(xs) == 0:
            return empty_detections()
        return make_detections(
            np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]), np.array([0.9]), np.array([0]), NAMES
        )

    out = sliced_predict(fn, img, tile=200, overlap=80, iou=0.3)
    assert len(out) >= 1
    best = out.xyxy[np.argmax(out.confidence)]
    assert best[0] <= 261 and best[2] >= 299  # whole square found in slide pixels
    assert len(out[(out.xyxy[:, 0] == 260) & (out.xyxy[:, 2] == 300)]) == 1  # duplicates merged


def test_sliced_predict_merges_a_cell_cut_by_a_slice_border():
    """Square straddling a slice border: half of it in one slice, whole in the next -> one box."""
    img = np.full((200, 400, 3), 230, np.uint8)
    img[80:120, 180:220] = 40  # slices of 200 px with overlap 80 start at x = 0, 120, 200

    def fn(tile):  # box of the dark pixels this slice sees, score = visible fraction
        ys, xs = np.nonzero(tile[..., 0] < 100)
        if len(xs) == 0:
            return empty_detections()
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])
        return make_detections(box, np.array([len(xs) / 1600]), np.array([0]), NAMES)

    out = sliced_predict(fn, img, tile=200, overlap=80, iou=0.6)
    assert len(out) == 1
    np.testing.assert_allclose(out.xyxy[0], [180, 80, 220, 120])
    by_iou = sliced_predict(fn, img, tile=200, overlap=80, iou=0.6, metric="IOU")
    assert len(by_iou) == 3  # both half boxes (IoU 0.5 with the whole one) survive plain IoU


def test_evaluate_detector_tool(tmp_path, capsys):
    import json

    from detect_fixtures import NAMES as TINY_NAMES
    from detect_fixtures import make_tiny_dataset

    from leukoscan import detect
    from leukoscan.tools import evaluate_detector

    data = make_tiny_dataset(tmp_path / "data")
    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes=3,
        class_names=TINY_NAMES,
        pretrained=False,
        imgsz=64,
        rois_per_image=16,
    )
    w = det.save(tmp_path / "w.pt")
    out = tmp_path / "m.json"
    assert (
        evaluate_detector.main(
            ["--weights", str(w), "--data", str(data), "--split", "val", "--out", str(out), "--orientations"]
        )
        == 0
    )
    m = json.loads(out.read_text())
    assert set(m["per_class"]) == set(TINY_NAMES) and 0.0 <= m["map50"] <= 1.0
    assert set(m["orientations"]) == {
        "rot0",
        "rot90",
        "rot180",
        "rot270",
        "flip_rot0",
        "flip_rot90",
        "flip_rot180",
        "flip_rot270",
    }
    assert m["orientations"]["rot0"]["map50"] == pytest.approx(m["map50"])  # identity = the plain evaluation
    assert evaluate_detector.main(["--weights", str(w), "--data", str(data), "--split", "test"]) == 2
    assert "no split 'test'" in capsys.readouterr().err


def test_dihedral_boxes_follow_the_pixels():
    """Each of the 8 rotations/mirrorings moves a box exactly onto its transformed pixels."""
    from leukoscan.detect.evaluate import DIHEDRAL, dihedral_boxes, dihedral_image

    img = np.zeros((30, 50, 3), np.uint8)
    box = np.array([[5, 3, 17, 11]], float)  # xyxy, pixel edges
    img[3:11, 5:17] = 255
    for k, flip in DIHEDRAL:
        t = dihedral_image(img, k, flip)
        ys, xs = np.nonzero(t[..., 0])
        expect = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        np.testing.assert_allclose(dihedral_boxes(box, img.shape[:2], k, flip)[0], expect, err_msg=f"{k} {flip}")
        assert t.shape[:2] == (img.shape[:2] if k % 2 == 0 else img.shape[1::-1])


def test_evaluate_orientations_oracle_is_perfect_everywhere(tmp_path):
    """An orientation-aware oracle scores 1.0 under all 8 transforms (the GT follows the image)."""
    from leukoscan.detect.evaluate import DIHEDRAL, evaluate_orientations
    from leukoscan.io import write_image

    data = tmp_path / "d"
    (data / "images" / "val").mkdir(parents=True)
    (data / "annotations").mkdir()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    write_image(data / "images" / "val" / "a.png", img)
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 60}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 6, 10, 8], "area": 80, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "WBC"}],
    }
    (data / "annotations" / "val.json").write_text(json.dumps(gt))

    class Oracle:  # finds the pattern's transform by matching the image, returns the moved box
        def predict(self, image, conf, iou, tile=None):
            from leukoscan.detect.evaluate import dihedral_boxes, dihedral_image

            for k, flip in DIHEDRAL:
                if dihedral_image(img, k, flip).shape == image.shape and np.array_equal(
                    dihedral_image(img, k, flip), image
                ):
                    b = dihedral_boxes(np.array([[4, 6, 14, 14]]), (40, 60), k, flip)
                    return make_detections(b, [0.9], [0], ["WBC"])
            raise AssertionError("unknown transform")

    res = evaluate_orientations(Oracle(), data, "val", progress=False)
    assert len(res) == 8 and all(m.map50 == pytest.approx(1.0) for m in res.values())
