"""The type stage and the per-slide differential (issue 24), on synthetic data with stand-in models."""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from PIL import Image

from leukoscan.errors import ConfigError
from leukoscan.pipeline.batch.runner import run_batch
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.cell_types import assign_types, check_type_classifier
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.report.differential import MIN_COUNTED, differential, from_rows, pooled
from leukoscan.schema import BLAST_PROB, CELL_CLASS, CELL_TYPE, NOT_TYPED, TYPE_CONF
from leukoscan.synthetic import make_smear

TYPES = ("eosinophil", "lymphocyte", "neutrophil", "platelet")


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def test_differential_hand_computed_case():
    d = differential(["neutrophil"] * 3 + ["lymphocyte"] + ["erythroblast"] + [NOT_TYPED] * 2)
    assert d.counted == 4 and d.nrbc == 1 and d.not_typed == 2 and d.nrbc_per_100 == 25.0
    neu, lym = d.row("neutrophil"), d.row("lymphocyte")
    assert (neu.count, neu.pct, lym.count, lym.pct) == (3, 75.0, 1, 25.0)
    lo, hi = _wilson_by_hand(3, 4)  # 30.06 - 95.44 %
    assert neu.ci95 == pytest.approx((round(lo, 2), round(hi, 2)), abs=0.011)
    assert d.row("monocyte").count == 0 and d.row("monocyte").ci95[0] == 0.0
    assert d.warning and "only 4 white cells" in d.warning


def test_differential_sums_to_counted_and_warning_threshold():
    rng = np.random.default_rng(0)
    types = list(rng.choice(["neutrophil", "lymphocyte", "monocyte", "blast", "ig", "erythroblast", ""], 250))
    d = differential(types)
    assert sum(r.count for r in d.rows) == d.counted == sum(t not in ("", "erythroblast") for t in types)
    assert sum(r.pct for r in d.rows) == pytest.approx(100.0, abs=0.05)
    assert differential(["neutrophil"] * MIN_COUNTED).warning is None
    assert differential(["neutrophil"] * (MIN_COUNTED - 1)).warning is not None
    empty = differential([])
    assert empty.counted == 0 and all(r.pct is None for r in empty.rows)
    both = pooled([d.to_dict(), empty.to_dict(), None])
    assert both.counted == d.counted and both.nrbc == d.nrbc


def test_non_cell_not_typed_and_blast_keeps_its_call():
    det = sv.Detections(
        xyxy=np.array([[0, 0, 10, 10]] * 3, np.float32),
        confidence=np.ones(3, np.float32),
        data={
            CELL_CLASS: np.array(["normal", "blast", "normal"], dtype=object),
            BLAST_PROB: np.array([0.1, 0.8, 0.2], np.float32),
        },
    )
    proba = np.array(
        [
            [0.1, 0.1, 0.7, 0.1],  # neutrophil
            [0.1, 0.6, 0.2, 0.1],  # called a blast by the blast stage: stays a blast
            [0.0, 0.1, 0.1, 0.8],
        ]
    )  # platelet: not a white cell, not typed
    assign_types(det, proba, TYPES)
    assert list(det.data[CELL_TYPE]) == ["neutrophil", "blast", NOT_TYPED]
    assert det.data[TYPE_CONF][0] == pytest.approx(0.7) and det.data[TYPE_CONF][1] == pytest.approx(0.8)
    assert np.isnan(det.data[TYPE_CONF][2])
    d = differential(det.data[CELL_TYPE])
    assert d.counted == 2 and d.not_typed == 1


class _TypeClf:
    """Stand-in type classifier: cycles neutrophil, lymphocyte, platelet over the crops."""

    name = "stand-in types"
    class_names = TYPES

    class preprocess:  # noqa: N801 - mimics the model's preprocess config
        input_size = 24

    def predict_proba(self, crops):
        assert all(c.shape == (24, 24, 3) for c in crops)
        out = np.zeros((len(crops), len(TYPES)), np.float32)
        for i in range(len(crops)):
            out[i, (2, 1, 3)[i % 3]] = 0.9
            out[i, 0] = 0.1
        return out


def test_type_classifier_with_a_blast_class_is_refused():
    class Bad(_TypeClf):
        class_names = ("blast", "normal")

    with pytest.raises(ConfigError, match="blast stage"):
        check_type_classifier(Bad())


class GridDetector:
    """Stand-in detector: 8 leukocyte boxes on a grid (whatever the image)."""

    class_names = ["WBC"]

    def predict(self, image, *, conf=0.25, iou=0.5, tile=None):
        xyxy = np.array(
            [[10 + 36 * (k % 4), 10 + 50 * (k // 4), 40 + 36 * (k % 4), 40 + 50 * (k // 4)] for k in range(8)],
            np.float32,
        )
        return sv.Detections(
            xyxy=xyxy,
            confidence=np.full(8, 0.9, np.float32),
            class_id=np.zeros(8, int),
            data={"class_name": np.array(["WBC"] * 8)},
        )


@pytest.fixture()
def typed_batch(tmp_path):
    from test_infer_outputs import HalfBlastClassifier

    pipe = Pipeline(GridDetector(), HalfBlastClassifier(), PipelineConfig(), type_classifier=_TypeClf())
    src = tmp_path / "in"
    src.mkdir()
    for k in range(2):
        Image.fromarray(make_smear(120, 160, seed=0).image).save(src / f"s{k}.png")
    out = tmp_path / "out"
    res = run_batch(pipe, [src], out)
    assert res.ok
    return out


def test_type_lands_in_every_output(typed_batch):
    out = typed_batch
    summ = json.loads((out / "summary.json").read_text())
    for slide in summ["slides"]:
        cells = json.loads((out / slide["outputs"]["cells_json"]).read_text())
        rows = cells["cells"]
        assert rows and all("cell_type" in r and "type_conf" in r for r in rows)
        assert {r["cell_type"] for r in rows} == {"blast", "neutrophil", "lymphocyte", ""}
        assert all(r["cell_type"] == "blast" for r in rows if r["cell_class"] == "blast")
        d = slide["differential"]
        assert d == cells["differential"] == from_rows(rows).to_dict()
        assert sum(r["count"] for r in d["rows"]) == d["counted"] == sum(r["cell_type"] != "" for r in rows)
        assert d["warning"]  # a handful of cells: fewer than 100
        assert "blast_pct" in slide and "flagged" in slide  # the blast flag stays
        with open(out / slide["outputs"]["cells_csv"], newline="") as f:
            assert [r["cell_type"] for r in csv.DictReader(f)] == [r["cell_type"] for r in rows]
    assert summ["totals"]["differential"]["counted"] == sum(s["differential"]["counted"] for s in summ["slides"])
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(
        int(r["wbc_counted"]) == int(r["neutrophil_n"]) + int(r["lymphocyte_n"]) + int(r["blast_n"]) for r in rows
    )
    assert all(r["differential_warning"] for r in rows) and "neutrophil_ci95_lo" in rows[0]
    page = (out / "report.html").read_text()
    assert 'id="differential"' in page and "neutrophil" in page and "Warning" in page
    coco = json.loads((out / "exports" / "coco_dataset.json").read_text())
    cats = {c["name"] for c in coco["categories"]}
    assert {"neutrophil", "lymphocyte"} <= cats
    used = {c["id"] for c in coco["categories"] if c["name"] in ("neutrophil", "lymphocyte", "blast", "untyped")}
    assert {a["category_id"] for a in coco["annotations"]} <= used
    cvat = ET.parse(out / "exports" / "cvat_annotations.xml").getroot()
    assert {b.get("label") for b in cvat.iter("box")} <= {"neutrophil", "lymphocyte", "blast", "untyped"}
    assert any(b.get("label") == "neutrophil" for b in cvat.iter("box"))


def test_annotated_image_shows_types(typed_batch, tmp_path):
    from test_infer_outputs import HalfBlastClassifier

    out = tmp_path / "plain"
    src = typed_batch.parent / "in"
    assert run_batch(Pipeline(GridDetector(), HalfBlastClassifier(), PipelineConfig()), [src], out).ok
    summ = json.loads((out / "summary.json").read_text())
    assert "differential" not in summ["slides"][0] and "differential" not in summ["totals"]
    with open(out / summ["slides"][0]["outputs"]["cells_csv"], newline="") as f:
        assert "cell_type" not in next(csv.DictReader(f))
    typed = np.asarray(Image.open(typed_batch / summ["slides"][0]["outputs"]["annotated"]))
    plain = np.asarray(Image.open(out / summ["slides"][0]["outputs"]["annotated"]))
    assert typed.shape != plain.shape or np.any(typed != plain)  # labels, legend and banner differ


def _bccd_like(root: Path) -> Path:
    """A BCCD-shaped folder: 4 images (one with two types named, one with none), train/val lists."""
    from leukoscan.data.voc import voc_xml

    bccd = root / "BCCD"
    for d in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (bccd / d).mkdir(parents=True)
    names = ["img0", "img1", "img2", "img3"]
    for k, n in enumerate(names):
        Image.fromarray(make_smear(120, 160, seed=k).image).save(bccd / "JPEGImages" / f"{n}.jpg")
        boxes = np.array([[20, 20, 60, 60], [80, 30, 120, 70]], float)[: 2 if k == 1 else 1]
        (bccd / "Annotations" / f"{n}.xml").write_text(voc_xml(f"{n}.jpg", 160, 120, boxes, ["WBC"] * len(boxes)))
    (bccd / "ImageSets/Main/train.txt").write_text("img0\nimg1\nimg2\n")
    (bccd / "ImageSets/Main/val.txt").write_text("img3\n")
    (bccd / "wbc_subtypes.csv").write_text(
        'image,category,wbc_boxes\nimg0,NEUTROPHIL,1\nimg1,"NEUTROPHIL, EOSINOPHIL",2\nimg2,,1\nimg3,LYMPHOCYTE,1\n'
    )
    return root


def test_bccd_types_mixed_rows_excluded_and_counted(tmp_path):
    from leukoscan.data import prepare, read_report

    out = prepare("bccd_types", data_root=_bccd_like(tmp_path / "data"), out=tmp_path / "cells", min_per_class=1)
    with open(out / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["split"]) for r in rows] == [("neutrophil", "train"), ("lymphocyte", "val")]
    rep = read_report(out)
    assert rep["issues"]["mixed_types"][0]["file"] == "img1.jpg" and rep["issues"]["no_type"]
    assert any("2 in images naming several types" in n for n in rep["notes"])
    crop = np.asarray(Image.open(out / rows[0]["file"]))
    assert crop.shape[0] == crop.shape[1] == round(40 * 1.6)  # square, margin 0.3 each side


def test_train_type_classifier_multiclass_and_use_it(tmp_path, monkeypatch):
    """train-classifier on a 3-type cells set: multiclass held-out report; the run loads as a type stage."""
    from leukoscan.classify.train import TrainConfig, run_training
    from leukoscan.data.canonical import CellImage, write_cells
    from leukoscan.synthetic import make_cell_crop

    monkeypatch.setenv("LEUKOSCAN_THREADS", "1")
    cells = tmp_path / "types"
    cells.mkdir()
    items = []
    for i in range(36):
        label = ("lymphocyte", "neutrophil", "platelet")[i % 3]
        img = make_cell_crop(32, blast=label == "lymphocyte", seed=i)
        if label == "platelet":
            img = np.full_like(img, 230)
        items.append(CellImage(f"c{i}.png", label, f"c{i}", ("train", "train", "val", "test")[i % 4], array=img))
    write_cells(cells, items, progress=False)
    from leukoscan.classify.model import FitCfg

    run = run_training(
        TrainConfig(
            model="cnn",
            data=str(cells),
            imgsz=32,
            folds=0,
            pretrained=False,
            project=str(tmp_path / "runs"),
            name="types",
            n_boot=0,
            fit=FitCfg(epochs=1, batch=8, device="cpu"),
        )
    )
    m = json.loads((run / "metrics.json").read_text())
    assert set(m["val"]["recall"]) == {"lymphocyte", "neutrophil", "platelet"}  # the score split (val) only
    assert len(m["val"]["confusion"]) == 3 and m["val"]["accuracy"]["ci95"][0] is not None and "test" not in m
    from leukoscan.pipeline.infer.cascade import load_pipeline

    monkeypatch.setattr("leukoscan.detect.load", lambda *a, **k: GridDetector())
    (tmp_path / "det.pt").write_bytes(b"x")
    pipe = load_pipeline(tmp_path / "det.pt", False, PipelineConfig(type_classifier=str(run)))
    det = pipe(make_smear(120, 160, seed=0).image)
    assert CELL_TYPE in det.data and set(det.data[CELL_TYPE]) <= {"lymphocyte", "neutrophil", ""}
    assert pipe.sources["type_classifier"].run == str(run)


def test_evaluate_types_on_typed_fields(tmp_path):
    """Per-cell type accuracy on BCCD-like fields: mixed-type images left out and counted."""
    from leukoscan.pipeline.train.evaluate_types import evaluate_types

    class Neutrophils(_TypeClf):
        def predict_proba(self, crops):
            out = np.zeros((len(crops), len(TYPES)), np.float32)
            out[:, TYPES.index("neutrophil")] = 1.0
            return out

    bccd = _bccd_like(tmp_path / "data") / "BCCD"
    (bccd / "ImageSets/Main/val.txt").write_text("img0\nimg1\nimg2\nimg3\n")
    pipe = Pipeline(None, None, PipelineConfig(), type_classifier=Neutrophils())
    res = evaluate_types(pipe, bccd, "val", gt_boxes=True)
    assert res["n_cells"] == 2 and res["left_out"] == {"mixed_or_no_type_boxes": 3, "images": 2}
    pc = res["per_cell"]
    assert pc["accuracy"]["value"] == 0.5 and set(pc["recall"]) == {"lymphocyte", "neutrophil"}
    assert pc["recall"]["neutrophil"]["value"] == 1.0 and pc["recall"]["lymphocyte"]["value"] == 0.0
    assert res["per_image"]["agreement"]["k"] == 1 and res["per_image"]["diff_error_pts_mean"] == 50.0
    pool = res["pooled_differential"]
    assert pool["types"]["neutrophil"] == {"true_pct": 50.0, "pred_pct": 100.0, "abs_error_pts": 50.0}
    assert pool["types"]["lymphocyte"]["pred_pct"] == 0.0 and pool["mean_abs_error_pts"] == 50.0


def test_cells_datasets_concatenate(tmp_path):
    """``--data a+b``: two cells folders, each keeping its splits; classes are the sorted union."""
    from leukoscan.classify.data import resolve_cells
    from leukoscan.data.canonical import CellImage, write_cells

    for name, labels in (("a", ("neutrophil", "platelet")), ("b", ("eosinophil", "neutrophil"))):
        (tmp_path / name).mkdir()
        write_cells(
            tmp_path / name,
            [
                CellImage(
                    f"{name}{i}.png", lab, f"g{i}", ("train", "val")[i], array=np.full((8, 8, 3), 100 * i, np.uint8)
                )
                for i, lab in enumerate(labels)
            ],
            progress=False,
        )
    cells = resolve_cells(f"{tmp_path / 'a'}+{tmp_path / 'b'}")
    assert cells.class_names == ("eosinophil", "neutrophil", "platelet")
    assert [cells.class_names[i] for i in cells.labels] == ["neutrophil", "platelet", "eosinophil", "neutrophil"]
    assert cells.splits == ["train", "val", "train", "val"]
    assert cells.meta["source"] == [str(tmp_path / "a")] * 2 + [str(tmp_path / "b")] * 2


def test_svm_head_with_a_rare_class_is_a_clear_error():
    from leukoscan import classify
    from leukoscan.errors import DataError

    clf = classify.build("handcrafted+svm", num_classes=3, pretrained=False, imgsz=32, class_names=("a", "b", "c"))
    imgs = [np.full((32, 32, 3), 10 * i, np.uint8) for i in range(7)]
    with pytest.raises(DataError, match=r"fewer than 3 training items \{'c': 1\}"):
        clf.fit(imgs, np.array([0, 0, 0, 1, 1, 1, 2]))


def test_tools_infer_and_evaluate_with_a_type_classifier(tmp_path, tool, capsys, monkeypatch):
    """``infer --type-classifier`` writes the differential; ``evaluate-pipeline --data bccd --gt-boxes`` scores it."""
    from detect_fixtures import make_untrained_models

    from leukoscan import classify

    models = make_untrained_models(tmp_path)
    types = classify.build(
        "cnn", num_classes=3, class_names=("lymphocyte", "neutrophil", "platelet"), imgsz=32, pretrained=False
    )
    (tmp_path / "types").mkdir()
    types.save(tmp_path / "types")
    Image.fromarray(make_smear(96, 128, seed=1).image).save(tmp_path / "slide.png")
    rc = tool("infer").main(
        [
            str(tmp_path / "slide.png"),
            "--detector",
            models["det"],
            "--classifier",
            models["clf"],
            "--type-classifier",
            str(tmp_path / "types"),
            "--out",
            str(tmp_path / "out"),
            "--conf",
            "0.0",
            "--tile",
            "off",
        ]
    )
    assert rc == 0
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "differential" in summ["slides"][0] and summ["provenance"]["type_classifier"]["run"]
    assert "differential (" in capsys.readouterr().out
    data = _bccd_like(tmp_path / "data")
    out = tmp_path / "eval.json"
    assert (
        tool("evaluate_pipeline").main(
            [
                "--data",
                "bccd",
                "--data-root",
                str(data),
                "--type-classifier",
                str(tmp_path / "types"),
                "--gt-boxes",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["n_cells"] == 1 and res["cells_from"] == "ground-truth WBC boxes"  # val: img3 only
    assert tool("evaluate_pipeline").main(["--data", "bccd", "--data-root", str(data), "--gt-boxes"]) == 2
    # with a detector in the loop: no blast stage is needed, and the newest classifier run (here the
    # type classifier itself, under runs/classify) is not taken for one
    runs = tmp_path / "runs" / "classify" / "types"
    runs.mkdir(parents=True)
    types.save(runs)
    monkeypatch.chdir(tmp_path)
    argv = ["--data", "bccd", "--data-root", str(data), "--detector", models["det"], "--type-classifier", str(runs)]
    assert tool("evaluate_pipeline").main([*argv, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["cells_from"] == "the detector"
