"""The prepared-data cache is keyed on what defines the conversion: source files, the split
and provenance CSVs next to them, the options and the conversion code."""

from __future__ import annotations

import tifffile

from leukoscan.data import read_index, read_report, resolve
from leukoscan.synthetic import make_cell_crop


def _all_idb2(root):
    base = root / "ALL_IDB"
    (base / "ALL_IDB2" / "img").mkdir(parents=True)
    for i, lab in enumerate([1, 0, 1, 0]):
        tifffile.imwrite(
            base / "ALL_IDB2" / "img" / f"Im{i + 1:03d}_{lab}.tif", make_cell_crop(48, blast=bool(lab), seed=i)
        )
    (base / "allidb2_provenance.csv").write_text(
        "crop,source_image\nIm001_1,ImA_1\nIm002_0,ImA_1\nIm003_1,ImB_1\nIm004_0,ImB_1\n"
    )
    (base / "allidb1_dev_split.csv").write_text("image,split\nImA_1,train\nImB_1,test\n")
    return base


def _splits(folder) -> dict[str, str]:
    return {r["file"].split("/")[-1]: r["split"] for r in read_index(folder)}


def test_changed_split_or_provenance_file_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    base = _all_idb2(tmp_path / "root")
    out = resolve("all_idb2", data_root=tmp_path / "root")
    assert _splits(out)["Im003_1.tif"] == "test"
    stamp = read_report(out)["cache_key"]
    assert resolve("all_idb2", data_root=tmp_path / "root") == out and read_report(out)["cache_key"] == stamp
    (base / "allidb1_dev_split.csv").write_text("image,split\nImA_1,train\nImB_1,train\n")  # test -> train
    out = resolve("all_idb2", data_root=tmp_path / "root")
    assert set(_splits(out).values()) == {"train"}  # rebuilt, not the cached conversion
    (base / "allidb2_provenance.csv").write_text("crop,source_image\nIm001_1,ImA_1\n")
    out = resolve("all_idb2", data_root=tmp_path / "root")
    assert _splits(out)["Im003_1.tif"] == ""  # provenance changed: groups (and so splits) rebuilt
    (base / "allidb2_provenance.csv").unlink()  # a side file that disappears counts too
    out = resolve("all_idb2", data_root=tmp_path / "root")
    assert {r["group"] for r in read_index(out)} == {""}


def test_converter_version_is_part_of_the_key(tmp_path, monkeypatch):
    import leukoscan.data.checks as checks

    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    out = resolve("demo_cells")
    first = read_report(out)["cache_key"]["converter_version"]
    assert resolve("demo_cells") == out and read_report(out)["cache_key"]["converter_version"] == first
    monkeypatch.setattr(checks, "converter_version", lambda: "edited")  # as if the code changed
    resolve("demo_cells")
    assert read_report(out)["cache_key"]["converter_version"] == "edited"
