"""Converters on tiny synthetic folders: round trips, rules, outputs, resolve, CLI."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from _data_helpers import make_voc

from leukoscan.data import (
    locate,
    prepare,
    read_detection,
    read_index,
    read_report,
    resolve,
)
from leukoscan.data.quality import QualityReport, clean_boxes
from leukoscan.errors import DataError, MissingDatasetError


def _by_file(folder, split):
    return {r.path.name: r for r in read_detection(folder, split)}


def test_voc_yolo_coco_round_trip(tmp_path):
    truth = make_voc(tmp_path / "voc", n=3)
    a = prepare("voc", source=tmp_path / "voc", out=tmp_path / "a")  # VOC -> canonical (YOLO + COCO)
    b = prepare("yolo", source=a, out=tmp_path / "b")  # its YOLO labels -> canonical again
    c = prepare("coco", source=b, out=tmp_path / "c")  # its COCO json -> canonical again
    for split, stems in (("train", ["img_000", "img_001"]), ("val", ["img_002"])):
        recs = _by_file(c, split)
        assert sorted(recs) == [f"{s}.jpg" for s in stems]
        for stem in stems:
            boxes, labels = truth[stem]
            r = recs[f"{stem}.jpg"]
            assert r.labels == labels
            assert np.abs(r.boxes - boxes).max() <= 0.5 + 1e-3  # VOC stores whole pixels
            voc = np.round(boxes)  # what the XML holds, as xyxy continuous pixels
            assert np.abs(r.boxes - voc).max() < 0.01
    assert read_report(c)["issue_counts"] == {}


def test_canonical_layout(tmp_path):
    make_voc(tmp_path / "voc", n=2)
    out = prepare("voc", source=tmp_path / "voc", out=tmp_path / "o")
    import yaml

    cfg = yaml.safe_load((out / "data.yaml").read_text())
    assert cfg["path"] == str(out.absolute()) and cfg["train"] == "images/train" and cfg["val"] == "images/val"
    assert cfg["names"] == {0: "Platelets", 1: "RBC", 2: "WBC"}  # generic VOC: sorted names
    coco = json.loads((out / "annotations" / "train.json").read_text())
    assert [c["id"] for c in coco["categories"]] == [1, 2, 3] and coco["images"][0]["id"] == 1
    assert (out / "splits" / "train.txt").read_text() == "img_000.jpg\n"
    line = (out / "labels" / "train" / "img_000.txt").read_text().splitlines()[0].split()
    assert len(line) == 5 and all(0 <= float(v) <= 1 for v in line[1:])


def test_box_rules():
    rep = QualityReport("t")
    boxes = np.array(
        [
            [10, 10, 20, 20],
            [10, 10, 20, 20],
            [5, 5, 5, 9],
            [-4, 0, 16, 10],
            [90, 90, 130, 130],
            [0, 0, 5, 5],
            [1, 1, 3, 3],
        ],
        float,
    )
    labels = ["a", "a", "a", "a", "a", "zzz", "a"]
    kept, lab = clean_boxes("f.jpg", boxes, labels, (100, 100), ["a"], rep)
    assert rep.issue_counts() == {"degenerate_box": 1, "duplicate_box": 1, "out_of_bounds": 2, "unknown_label": 1}
    actions = sorted(i["action"] for i in rep.issues["out_of_bounds"])
    assert actions == ["clipped", "dropped"]  # 80 % inside -> clipped; 25 % inside -> dropped
    assert np.allclose(kept, [[10, 10, 20, 20], [0, 0, 16, 10], [1, 1, 3, 3]]) and lab == ["a"] * 3
    with pytest.raises(DataError, match="g.jpg.*outside"):
        clean_boxes("g.jpg", np.array([[200.0, 200, 220, 220]]), ["a"], (100, 100), ["a"], rep)


def test_demo_datasets(tmp_path):
    d = prepare("demo", out=tmp_path / "d", n_train=2, n_val=1, n_test=1, height=96, width=128)
    recs = read_detection(d, "train")
    assert len(recs) == 2 and recs[0].width == 128 and {"WBC", "RBC"} <= set(recs[0].labels)
    assert sorted(p.name for p in (d / "annotations").iterdir()) == ["test.json", "train.json", "val.json"]
    c = prepare("demo_cells", out=tmp_path / "c", n_per_class=10, size=48)
    rows = read_index(c)
    assert len(rows) == 20 and {r["label"] for r in rows} == {"blast", "normal"}
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    for split in ("val", "test"):  # groups never straddle splits
        g = {r["group"] for r in rows if r["split"] == split}
        assert not g & {r["group"] for r in rows if r["split"] == "train"}
    assert (c / rows[0]["file"]).is_file()


def test_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    p = resolve("demo_cells")
    assert p == tmp_path / "runs" / "data" / "demo_cells" and (p / "index.csv").is_file()
    mtime = (p / "index.csv").stat().st_mtime
    assert resolve("demo_cells") == p and (p / "index.csv").stat().st_mtime == mtime  # reused
    assert resolve(p) == p  # a canonical folder is used as is
    make_voc(tmp_path / "myvoc", n=2)
    q = resolve(tmp_path / "myvoc")
    assert q.name == "myvoc-voc" and len(read_detection(q, "train")) == 1
    with pytest.raises(ValueError, match="demo"):
        resolve("no_such_dataset")


def test_output_is_staged(tmp_path):
    make_voc(tmp_path / "voc", n=2)
    out = tmp_path / "o"
    prepare("voc", source=tmp_path / "voc", out=out)
    with pytest.raises(FileExistsError, match="overwrite"):
        prepare("voc", source=tmp_path / "voc", out=out)
    prepare("voc", source=tmp_path / "voc", out=out, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o", "voc"]  # no temp folders left


def test_missing_dataset_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("LEUKOSCAN_OFFLINE", raising=False)  # even when allowed to try the network
    t = time.perf_counter()
    with pytest.raises(MissingDatasetError) as e:
        locate("all_idb1", tmp_path)  # no download URL: immediate
    assert str(tmp_path / "ALL_IDB" / "ALL_IDB1") in str(e.value) and "\n" not in str(e.value)
    monkeypatch.setenv("LEUKOSCAN_OFFLINE", "1")
    with pytest.raises(MissingDatasetError, match="BCCD"):
        prepare("bccd", data_root=tmp_path, out=tmp_path / "out")
    assert time.perf_counter() - t < 10 and not (tmp_path / "out").exists()


def test_data_root_from_env(tmp_path, monkeypatch):
    make_voc(tmp_path / "BCCD", n=2)
    monkeypatch.setenv("LEUKOSCAN_DATA", str(tmp_path))
    assert locate("bccd") == tmp_path / "BCCD"
    out = prepare("bccd", out=tmp_path / "o")
    rep = read_report(out)
    assert rep["images"] == {"train": 1, "val": 1} and any("test" in n for n in rep["notes"])


def test_cli_smoke(tmp_path, capsys):
    from leukoscan.tools import prepare_data as mod

    make_voc(tmp_path / "voc", n=2)
    assert mod.main(["voc", "--source", str(tmp_path / "voc"), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "train: 1 images" in capsys.readouterr().out
    assert (
        mod.main(["voc", "--source", str(tmp_path / "voc"), "--out", str(tmp_path / "o")]) == 2
    )  # a user error: one line, exit 2 (as every tool)
    assert "overwrite" in capsys.readouterr().err
