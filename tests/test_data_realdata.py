"""Converters on the real datasets (skipped without ../shared/data).

Expected counts were computed independently of the converters (one-off ElementTree and
awk counts over the raw files) and are re-derived here the same independent way.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from leukoscan.data import prepare, read_detection, read_index, read_report

pytestmark = pytest.mark.realdata


def _raw_bccd_counts(bccd):
    """Per-class objects in train+val straight from the XML, minus boxes with xmax <= xmin or ymax <= ymin."""
    c = Counter()
    for split in ("train", "val"):
        for stem in (bccd / "ImageSets" / "Main" / f"{split}.txt").read_text().split():
            for o in ET.parse(bccd / "Annotations" / f"{stem}.xml").getroot().iter("object"):
                b = {k: float(o.find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax")}
                if b["xmax"] > b["xmin"] and b["ymax"] > b["ymin"]:
                    c[o.find("name").text.strip()] += 1
    return dict(c)


def test_bccd_counts(shared_data, tmp_path):
    out = prepare("bccd", data_root=shared_data, out=tmp_path / "bccd")
    rep = read_report(out)
    assert rep["images"] == {"train": 205, "val": 87}
    got = Counter()
    for split in ("train", "val"):
        for r in read_detection(out, split):
            got.update(r.labels)
    assert dict(got) == _raw_bccd_counts(shared_data / "BCCD") == {"WBC": 301, "RBC": 3348, "Platelets": 292}
    assert sorted(i["file"] for i in rep["issues"]["degenerate_box"]) == [
        "BloodImage_00338.jpg",
        "BloodImage_00343.jpg",
    ]
    assert set(rep["issue_counts"]) == {"degenerate_box"}
    assert any("test" in n for n in rep["notes"])  # official test split held back here
    n_labels = sum(1 for s in ("train", "val") for _ in (out / "labels" / s).glob("*.txt"))
    assert n_labels == 292


def _raw_blasts(allidb1, stems):
    n = 0
    for s in stems:
        n += sum(1 for line in (allidb1 / "xyc" / f"{s}.xyc").read_text().splitlines() if len(line.split()) >= 2)
    return n


def test_all_idb1_subset(shared_data, tmp_path):
    """Four slides (both cameras, both labels): every blast kept, boxes hold their centroids."""
    stems = ["Im006_1", "Im020_1", "Im053_1", "Im041_0"]
    out = prepare("all_idb1", data_root=shared_data, out=tmp_path / "a", images=stems)
    src = shared_data / "ALL_IDB" / "ALL_IDB1"
    recs = [r for s in read_report(out)["images"] for r in read_detection(out, s)]
    assert sorted(r.path.stem for r in recs) == sorted(stems)
    for r in recs:
        assert r.labels.count("blast") == _raw_blasts(src, [r.path.stem])
        side = (r.boxes[:, 2:] - r.boxes[:, :2]).mean(1)
        assert ((side > 0.03 * r.width) & (side < 0.15 * r.width)).all()  # cell-sized boxes


@pytest.mark.slow
def test_all_idb1_dev_counts(shared_data, tmp_path):
    out = prepare("all_idb1", data_root=shared_data, out=tmp_path / "a")
    rep = read_report(out)
    src = shared_data / "ALL_IDB" / "ALL_IDB1"
    split_rows = [line.split(",") for line in (src.parent / "allidb1_dev_split.csv").read_text().split()[1:]]
    for split in ("train", "val"):
        stems = [s for s, sp in split_rows if sp == split]
        assert rep["objects"][split]["blast"] == _raw_blasts(src, stems)
    assert rep["objects"]["train"]["blast"] + rep["objects"]["val"]["blast"] == 332
    assert rep["images"] == {"train": 48, "val": 21}


def test_all_idb2(shared_data, tmp_path):
    out = prepare("all_idb2", data_root=shared_data, out=tmp_path / "b")
    rows = read_index(out)
    assert Counter(r["label"] for r in rows) == {"blast": 84, "normal": 85}
    assert all(r["group"] for r in rows) and {r["split"] for r in rows} == {"train", "val"}


def test_txl_pbc(shared_data, tmp_path):
    excl = tmp_path / "exclude.txt"
    first = sorted((shared_data / "TXL_PBC" / "images" / "val").iterdir())[0]
    excl.write_text(first.name + "\n")
    out = prepare("txl_pbc", data_root=shared_data, out=tmp_path / "t", exclude=excl)
    rep = read_report(out)
    assert rep["images"] == {"train": 928, "val": 267, "test": 128}
    assert rep["issues"]["excluded"][0]["file"] == first.name
