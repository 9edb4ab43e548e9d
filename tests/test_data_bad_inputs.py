"""Bad-input corpus: each broken input gives a DataError naming the file, and no output."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _data_helpers import make_all_idb1, make_voc

from leukoscan.data import prepare, read_detection, read_report
from leukoscan.errors import DataError


def _break_voc(root, how):
    jpg, xml = root / "JPEGImages" / "img_001.jpg", root / "Annotations" / "img_001.xml"
    if how == "zero_byte_jpg":
        jpg.write_bytes(b"")
        return "img_001.jpg"
    if how == "text_named_jpg":
        jpg.write_text("this is not an image\n")
        return "img_001.jpg"
    if how == "truncated_jpg":
        jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
        return "img_001.jpg"
    if how == "malformed_xml":
        xml.write_text(xml.read_text()[:-40])
        return "img_001.xml"
    if how == "non_number_in_xml":
        xml.write_text(xml.read_text().replace("<xmin>", "<xmin>abc", 1))
        return "img_001.xml"
    if how == "box_outside_image":
        xml.write_text(
            xml.read_text().replace(
                "</annotation>",
                "<object><name>RBC</name><bndbox><xmin>500</xmin>"
                "<ymin>500</ymin><xmax>540</xmax><ymax>540</ymax></bndbox></object></annotation>",
            )
        )
        return "img_001"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    ["zero_byte_jpg", "text_named_jpg", "truncated_jpg", "malformed_xml", "non_number_in_xml", "box_outside_image"],
)
@pytest.mark.parametrize("name", ["voc", "bccd"])
def test_bad_voc_inputs(tmp_path, how, name):
    root = tmp_path / "data" / "BCCD"
    make_voc(root, n=3)
    fname = _break_voc(root, how)
    out = tmp_path / "out"
    kw = {"source": root} if name == "voc" else {"data_root": tmp_path / "data"}
    with pytest.raises(DataError, match=fname):
        prepare(name, out=out, **kw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no output, no temp folder


def test_bad_yolo_label_line(tmp_path):
    make_voc(tmp_path / "voc", n=2)
    good = prepare("voc", source=tmp_path / "voc", out=tmp_path / "a")
    lab = good / "labels" / "train" / "img_000.txt"
    lab.write_text(lab.read_text() + "1 0.5 oops 0.1 0.1\n")
    with pytest.raises(DataError, match=r"img_000.txt:\d+: not a number"):
        prepare("yolo", source=good, out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_partial_out_of_bounds_is_clipped_and_reported(tmp_path):
    root = tmp_path / "voc"
    make_voc(root, n=2)
    xml = root / "Annotations" / "img_000.xml"
    xml.write_text(
        xml.read_text().replace(
            "</annotation>",
            "<object><name>RBC</name><bndbox><xmin>100</xmin>"
            "<ymin>10</ymin><xmax>140</xmax><ymax>30</ymax></bndbox></object></annotation>",
        )
    )
    out = prepare("voc", source=root, out=tmp_path / "o")
    rep = read_report(out)
    assert rep["issues"]["out_of_bounds"][0]["file"] == "img_000.jpg"
    assert rep["issues"]["out_of_bounds"][0]["action"] == "clipped"
    assert read_detection(out, "train")[0].boxes[:, 2].max() <= 128


def test_all_idb1_bad_xyc_line(tmp_path):
    root = tmp_path / "ALL_IDB" / "ALL_IDB1"
    make_all_idb1(root, labels=(1, 0, 1, 0), tiles=2)
    (root / "xyc" / "Im001_1.xyc").write_text("10\t20\n30\tx40\n")
    with pytest.raises(DataError, match=r"Im001_1.xyc:2"):
        prepare("all_idb1", data_root=tmp_path, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_all_idb1_bad_image(tmp_path):
    root = tmp_path / "ALL_IDB" / "ALL_IDB1"
    make_all_idb1(root, labels=(1, 0, 1, 0), tiles=2)
    (root / "im" / "Im002_0.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="Im002_0.jpg"):
        prepare("all_idb1", data_root=tmp_path, out=tmp_path / "o")
    shutil.rmtree(root / "im")
    (root / "im").mkdir()
    with pytest.raises(DataError, match="no images"):
        prepare("all_idb1", data_root=tmp_path, out=tmp_path / "o")
    assert not (tmp_path / "o").exists() and np.all([p.name == "ALL_IDB" for p in tmp_path.iterdir()])
