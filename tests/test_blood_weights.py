"""Trained on blood: PBC cells data, dedup by content, the open-data detection set, bundled
weights with model cards, ``pretrained: pbc`` / ``pretrained: blood`` initialisation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from leukoscan import bundled
from leukoscan.errors import BadInputError, LeukoScanError, MissingModelError
from leukoscan.synthetic import make_cell_crop, make_smear


def _jpg(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


# ---- dedup -------------------------------------------------------------------------------------
def test_copy_found_through_resize_mirror_and_colour_shift(tmp_path):
    from leukoscan.data.dedup import find_copies

    refs = [_jpg(tmp_path / f"ref{i}.jpg", make_smear(240, 320, seed=i).image) for i in range(4)]
    orig = make_smear(240, 320, seed=2).image
    edited = cv2.resize(orig, (208, 208))[:, ::-1].astype(np.int16)  # 4:3 -> 1:1, mirrored
    edited = np.clip(edited + np.array([25, -10, 15]), 0, 255).astype(np.uint8)  # colour cast
    query = [_jpg(tmp_path / "copy.jpg", edited), _jpg(tmp_path / "other.jpg", make_smear(240, 320, seed=9).image)]
    found = find_copies(query, refs)
    assert list(found) == [query[0]]
    assert found[query[0]][0] == refs[2]


def _voc(path: Path, img: str, boxes: list[tuple[str, list[int]]]) -> None:
    objs = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, b in boxes
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<annotation><filename>{img}</filename><size><width>320</width><height>240</height>"
        f"<depth>3</depth></size>{objs}</annotation>"
    )


def test_blood_fields_leaves_out_txl_copies_of_bccd_val(tmp_path):
    """A TXL-PBC train image that is an edited BCCD val image never reaches train (test)."""
    from leukoscan.data import prepare
    from leukoscan.data.canonical import read_detection

    root = tmp_path / "root"
    smears = {i: make_smear(240, 320, seed=10 + i, n_leukocytes=1) for i in range(4)}
    for i, _split in ((0, "train"), (1, "train"), (2, "val"), (3, "val")):
        _jpg(root / "BCCD" / "JPEGImages" / f"B{i}.jpg", smears[i].image)
        b = [int(v) for v in smears[i].boxes[0]]
        _voc(root / "BCCD" / "Annotations" / f"B{i}.xml", f"B{i}.jpg", [("WBC", b)])
    (root / "BCCD" / "ImageSets" / "Main").mkdir(parents=True)
    (root / "BCCD" / "ImageSets" / "Main" / "train.txt").write_text("B0\nB1\n")
    (root / "BCCD" / "ImageSets" / "Main" / "val.txt").write_text("B2\nB3\n")
    txl = root / "TXL_PBC"
    leak = cv2.resize(smears[2].image, (224, 224))[::-1]  # BCCD val B2, resized and flipped
    for split, imgs in (
        ("train", {"t_leak": leak, "t_own": make_smear(224, 224, seed=50).image}),
        ("val", {"v_own": make_smear(224, 224, seed=51).image}),
    ):
        for stem, img in imgs.items():
            _jpg(txl / "images" / split / f"{stem}.jpg", img)
            (txl / "labels" / split).mkdir(parents=True, exist_ok=True)
            (txl / "labels" / split / f"{stem}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = prepare("blood_fields", data_root=root, out=tmp_path / "bf")
    train = {r.path.name for r in read_detection(out, "train")}
    assert train == {"bccd_B0.jpg", "bccd_B1.jpg", "txl_t_own.jpg"}
    assert {r.path.name for r in read_detection(out, "val")} == {"bccd_B2.jpg", "bccd_B3.jpg"}
    report = json.loads((out / "report.json").read_text())
    assert "txl_t_leak.jpg" in json.dumps(report)
    # the TXL-PBC-only single-source set: no BCCD train, the same dedup, the same val
    txl_only = prepare("blood_fields_txl", data_root=root, out=tmp_path / "txl")
    assert {r.path.name for r in read_detection(txl_only, "train")} == {"txl_t_own.jpg"}
    assert {r.path.name for r in read_detection(txl_only, "val")} == {"bccd_B2.jpg", "bccd_B3.jpg"}


def test_allidb1_variant_pseudo_labels_only_red_cells_and_platelets_away_from_leukocytes(bench):
    """The local ALL-IDB1 variant (issue 20): ALL-IDB1 labels leukocytes only, so red cells and
    platelets come from the teacher; its WBC boxes, weak boxes and boxes on an annotated
    leukocyte are not used; tiles stay inside the slide."""
    import supervision as sv

    mod = bench("blood_fields_allidb1")

    class Teacher:
        def predict(self, image, *, conf, tile):
            assert tile == 0  # the tile is already at the detector's scale
            xyxy = np.array(
                [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30], [70, 70, 80, 80], [5, 80, 9, 84]], float
            )
            d = sv.Detections(xyxy=xyxy, confidence=np.array([0.9, 0.9, 0.9, 0.1, 0.6]))
            d.data["class_name"] = np.array(["RBC", "RBC", "WBC", "RBC", "Platelets"])
            return d

    wbc = np.array([[48, 48, 62, 62]], np.float32)  # an annotated leukocyte under the 2nd RBC box
    boxes, names = mod.pseudo_boxes(Teacher(), np.zeros((100, 100, 3), np.uint8), wbc, conf=0.25)
    assert names == ["RBC", "Platelets"]
    assert boxes.tolist() == [[0, 0, 10, 10], [5, 80, 9, 84]]
    assert mod.centred_window(5, 5, 448, 2592, 1944) == (0, 0, 448, 448)
    assert mod.centred_window(2590, 1940, 448, 2592, 1944) == (2144, 1496, 2592, 1944)


# ---- PBC converter ----------------------------------------------------------------------------
def test_pbc_split_is_stratified_seeded_and_skips_non_images(tmp_path):
    from leukoscan.data import prepare, read_index

    src = tmp_path / "PBC"
    for c in ("neutrophil", "lymphocyte"):
        for i in range(20):
            _jpg(src / c / f"{c[:3]}_{i}.jpg", make_cell_crop(48, blast=False, seed=i))
    (src / "neutrophil" / ".DS_1.jpg").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)  # not a picture
    a = read_index(prepare("pbc", source=src, out=tmp_path / "a"))
    b = read_index(prepare("pbc", source=src, out=tmp_path / "b"))
    assert a == b and len(a) == 40
    for c in ("neutrophil", "lymphocyte"):
        splits = [r["split"] for r in a if r["label"] == c]
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (14, 3, 3)
    assert "unreadable_image" in (tmp_path / "a" / "report.json").read_text()


# ---- bundled weights and cards ----------------------------------------------------------------
@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    monkeypatch.setattr(bundled, "WEIGHTS_DIR", d)
    return d


def _tiny_pbc_run(tmp_path: Path) -> Path:
    """A pretraining run folder of a tiny CNN on a tiny 3-class cells set (1 epoch)."""
    from leukoscan.classify.model import FitCfg
    from leukoscan.classify.pretrain import PretrainConfig, pretrain_backbone
    from leukoscan.data.canonical import CellImage, staged_output, write_cells

    items = [
        CellImage(
            f"{c}_{i}.png",
            c,
            f"{c}{i}",
            ("train", "train", "val", "test")[i % 4],
            array=make_cell_crop(48, blast=c == "blast", seed=i + 7 * k),
        )
        for k, c in enumerate(("blast", "lymphocyte", "monocyte"))
        for i in range(8)
    ]
    out = tmp_path / "pbc"
    with staged_output(out, overwrite=True) as stage:
        write_cells(stage, items, progress=False)
    cfg = PretrainConfig(
        arch="cnn",
        data=str(out),
        imgsz=32,
        project=str(tmp_path / "runs"),
        name="pbc_cnn",
        fit=FitCfg(epochs=1, batch=4, device="cpu"),
    )
    return pretrain_backbone(cfg).parent


def test_pretrain_fits_train_only_and_bundle_card_matches_hash(tmp_path, weights_dir):
    from leukoscan.classify.pretrain import bundle_backbone

    run = _tiny_pbc_run(tmp_path)
    m = json.loads((run / "metrics.json").read_text())
    assert m["fit_split"] == "train" and m["n_crops"] == 12 and m["scored_splits"] == ["test", "val"]
    with pytest.raises(BadInputError, match="not one of the openly licensed"):  # a folder named 'pbc' is
        bundle_backbone(run, name="x", out=weights_dir)  # not enough: its report must say what wrote it
    assert not weights_dir.exists()
    (tmp_path / "pbc" / "report.json").write_text(json.dumps({"dataset": "pbc"}))
    path = bundle_backbone(run, name="pbc_cnn", commit="abc")
    card = bundled.card("pbc_cnn")
    assert card["sha256"] == bundled.sha256_file(path) and card["licence_of_data"] == "CC BY 4.0"
    assert "Acevedo" in card["attribution"] and card["held_out"]["val"]["n"] == 6
    readme = (weights_dir / "README.md").read_text()  # the human-readable model card
    assert "## pbc_cnn" in readme and card["sha256"] in readme and "no blasts" in readme
    assert bundled.bundled_file("pbc_cnn") == path
    blob = bundled.read_weights(path)  # weights-only: tensors and plain values
    assert blob["arch"] == "cnn" and blob["class_names"] == ["blast", "lymphocyte", "monocyte"]
    path.write_bytes(path.read_bytes() + b"x")  # tampered file: the card no longer describes it
    with pytest.raises(BadInputError, match="sha256"):
        bundled.bundled_file("pbc_cnn")


def test_all_idb_weights_are_never_bundled(weights_dir):
    with pytest.raises(BadInputError, match="research use"):
        bundled.write_bundle("x", {"state_dict": {}}, {"data": "all_idb2"})
    assert not list(weights_dir.glob("*.pt")) if weights_dir.exists() else True


def test_read_weights_refuses_code(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("payload ran",))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"state_dict": Boom()}))
    with pytest.raises(BadInputError, match="not a LeukoScan weights file"):
        bundled.read_weights(p)


def test_pretrained_pbc_changes_initial_weights_and_missing_is_one_line(tmp_path, weights_dir):
    import torch

    from leukoscan.classify import build
    from leukoscan.classify.pretrain import bundle_backbone

    with pytest.raises(MissingModelError, match="no bundled weights named 'pbc_cnn'"):
        build("cnn", num_classes=2, pretrained="pbc", imgsz=32)
    with pytest.raises(MissingModelError, match="no such backbone file"):
        build("cnn", num_classes=2, pretrained=str(tmp_path / "nope.pt"), imgsz=32)
    run = _tiny_pbc_run(tmp_path)
    (tmp_path / "pbc" / "report.json").write_text(json.dumps({"dataset": "pbc"}))
    bundle_backbone(run, name="pbc_cnn")
    torch.manual_seed(0)
    scratch = build("cnn", num_classes=2, pretrained=False, imgsz=32).net.state_dict()
    torch.manual_seed(0)
    blood = build("cnn", num_classes=2, pretrained="pbc", imgsz=32).net.state_dict()
    src = bundled.read_weights(bundled.bundled_file("pbc_cnn"))["state_dict"]
    trunk = [k for k in blood if not k.startswith("head.")]
    assert any(not torch.equal(scratch[k], blood[k]) for k in trunk)
    assert all(torch.allclose(blood[k].float(), src[k].float()) for k in trunk)
    feats = build("cnn+svm", num_classes=2, pretrained="pbc", imgsz=32)  # deep features + SVM too
    fsd = feats.extractor.net.state_dict()
    assert all(torch.allclose(fsd[k].float(), src[k].float()) for k in trunk)


# ---- YOLO: LeukoScan weights files, init from blood weights -------------------------------------
@pytest.mark.slow
def test_yolo_weights_file_round_trip_and_blood_init(tmp_path, weights_dir):
    from detect_fixtures import make_tiny_dataset

    from leukoscan import detect
    from leukoscan.detect.backends.yolo import save_weights_file
    from leukoscan.detect.train import DetectTrainConfig, train

    data = make_tiny_dataset(tmp_path / "data")
    run = train(
        DetectTrainConfig(
            data=str(data),
            epochs=1,
            imgsz=64,
            batch=2,
            pretrained=False,
            name="a",
            project=str(tmp_path / "runs"),
            val=False,
        ),
        progress=False,
    )
    det = detect.load(run)
    wfile = save_weights_file(det, tmp_path / "w.pt")
    again = detect.load(wfile)  # rebuilt from the YAML + tensors, no pickle
    img = make_smear(96, 128, seed=3).image
    a, b = det.predict(img, conf=0.001), again.predict(img, conf=0.001)
    assert len(a) == len(b)
    run2 = train(
        DetectTrainConfig(
            data=str(data),
            epochs=1,
            imgsz=64,
            batch=2,
            pretrained=str(wfile),
            name="b",
            project=str(tmp_path / "runs"),
            val=False,
        ),
        progress=False,
    )
    info = json.loads((run2 / "run_info.json").read_text())
    assert info["pretrained"].startswith("blood")
    with pytest.raises(LeukoScanError, match="YOLO detectors only"):
        detect.build("fasterrcnn_mobilenet_v3_large_fpn", num_classes=3, pretrained="blood")


def test_infer_without_any_run_uses_the_bundled_detector_and_says_so(tmp_path, weights_dir, monkeypatch, capsys):
    """Fresh install, no trained run: infer uses the bundled detector, counts leukocytes with
    blasts not assessed, and names the bundled weights in the banner and the provenance."""
    from ultralytics.nn.tasks import DetectionModel

    from leukoscan.detect.backends.yolo import WEIGHTS_FORMAT
    from leukoscan.tools.infer import main

    net = DetectionModel("yolov8n.yaml", nc=3, verbose=False)
    meta = {"backend": "yolov8n", "class_names": ["WBC", "RBC", "Platelets"], "imgsz": 64}
    bundled.write_bundle(
        "blood_fields_yolov8n",
        {"format": WEIGHTS_FORMAT, "leukoscan": meta, "state_dict": net.state_dict()},
        {"kind": "detector", "arch": "yolov8n", "data": "blood_fields"},
    )
    monkeypatch.chdir(tmp_path)  # no runs/ here
    _jpg(tmp_path / "slide.jpg", make_smear(96, 128, seed=1).image)
    assert main([str(tmp_path / "slide.jpg"), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "BUNDLED detector" in err and "blood_fields_yolov8n" in err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    det = summary["provenance"]["detector"]
    assert det["chosen"].startswith("bundled") and det["sha256"] == bundled.card("blood_fields_yolov8n")["sha256"]
    assert summary["provenance"].get("classifier") is None  # bundled models know no blasts
    from leukoscan.detect.backends.yolo import init_weights_path  # pretrained=blood names this file

    assert init_weights_path("blood", "yolov8n")[0] == bundled.bundled_file("blood_fields_yolov8n")
    with pytest.raises(MissingModelError, match="bundled: blood_fields_yolov8n"):
        init_weights_path("blood", "yolov8s")


def test_blood_init_counts_the_tensors_the_trained_network_receives(capsys):
    """A 2-class run from the 3-class bundled detector: the count says the class head is new."""
    from leukoscan.detect.backends.yolo import YoloDetector
    from leukoscan.detect.base import DetectorMeta

    det = YoloDetector(DetectorMeta(backend="yolov8n", class_names=["blast", "leukocyte"], imgsz=416))
    det._blood_init("blood")
    out = capsys.readouterr().out
    assert "class head new: 3 -> 2 classes" in out and "355/355" not in out


def test_deep_feature_recipes_start_from_the_blood_backbone_when_asked():
    """The seed table's --backbones pbc: das2022 (MobileNetV2) gets blood features; VGG16 recipes have none."""
    from leukoscan.classify.classical.recipes import RECIPES
    from leukoscan.experiments.seed_table import _has_backbone

    assert _has_backbone(RECIPES["das2022"], "pbc") and not _has_backbone(RECIPES["vogado2017"], "pbc")
    x = [make_smear(100, 100, seed=1).image]
    blood, scratch = RECIPES["das2022"].extractor(pretrained="pbc"), RECIPES["das2022"].extractor()
    assert not np.allclose(blood(x), scratch(x))
    with pytest.raises(MissingModelError):
        RECIPES["vogado2017"].extractor(pretrained="pbc")


def test_backbone_file_pattern_names_each_network(tmp_path):
    """``{net}`` in a backbone path is the recipe's network: a VGG16 recipe finds its own file
    (fine-tuned recipes too), and a network without a file is left out."""
    from leukoscan.classify.classical.recipes import RECIPES
    from leukoscan.classify.models import blood_backbone
    from leukoscan.experiments.seed_table import _has_backbone

    (tmp_path / "pbc_vgg16").mkdir()
    (tmp_path / "pbc_vgg16" / "backbone.pt").write_bytes(b"x")  # only its presence is read here
    pattern = str(tmp_path / "pbc_{net}" / "backbone.pt")
    assert blood_backbone(pattern, "vgg16") == tmp_path / "pbc_vgg16" / "backbone.pt"
    assert _has_backbone(RECIPES["vogado2017"], pattern)  # deep features
    assert _has_backbone(RECIPES["genovese2021"], pattern)  # fine-tuned
    assert not _has_backbone(RECIPES["shahin2019"], pattern)  # alexnet: no file


def test_pretrained_auto_is_the_bundled_blood_detector_where_one_exists(capsys):
    """The default detector recipe says ``pretrained: auto``: YOLOv8n starts from the bundled
    blood detector; an architecture without one (Faster R-CNN, YOLOv5n) from COCO as before;
    the choice is printed."""
    import yaml

    from leukoscan.detect.pretrained import resolve_auto
    from leukoscan.paths import CONFIGS_DIR

    assert yaml.safe_load((CONFIGS_DIR / "detect_bccd_yolov8n.yaml").read_text())["pretrained"] == "auto"
    assert resolve_auto("auto", "yolov8n") == "blood"
    assert "bundled blood detector blood_fields_yolov8n" in capsys.readouterr().out
    assert resolve_auto("auto", "fasterrcnn_mobilenet_v3_large_fpn") is True
    assert resolve_auto("auto", "yolov5n") is True
    assert "no bundled blood detector for yolov5n" in capsys.readouterr().out
    assert resolve_auto(False, "yolov8n") is False and resolve_auto("blood", "yolov5n") == "blood"
