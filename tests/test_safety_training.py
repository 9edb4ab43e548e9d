"""Checks before training: bad labels, nothing to learn, stale conversions, bad counts,
exploding tiling, the source never overwritten, offline font lookup, honest interrupt message."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from _data_helpers import make_voc
from PIL import Image

from leukoscan.data import prepare, resolve
from leukoscan.errors import ConfigError, DataError
from leukoscan.io import sha256_file
from leukoscan.synthetic import make_smear


def make_yolo(root: Path, lines: dict[str, list[str]], names=("WBC",), split="train") -> Path:
    """A YOLO folder: ``images/<split>/<stem>.png`` (96x128 smears) + label lines per stem."""
    for i, (stem, rows) in enumerate(lines.items()):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(make_smear(96, 128, seed=i).image).save(root / "images" / split / f"{stem}.png")
        (root / "labels" / split / f"{stem}.txt").write_text("".join(r + "\n" for r in rows))
    (root / "data.yaml").write_text(f"names: {list(names)}\n")
    return root


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_yolo_label_is_refused_with_file_and_line(tmp_path, value):
    src = make_yolo(tmp_path / "y", {"a": ["0 0.5 0.5 0.2 0.2", f"0 {value} 0.5 0.2 0.2"]})
    with pytest.raises(DataError, match=r"a\.txt:2: non-finite \(NaN/inf\) value"):
        prepare("yolo", source=src, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_nan_class_id_is_a_clear_error_not_a_traceback(tmp_path):
    src = make_yolo(tmp_path / "y", {"a": ["nan 0.5 0.5 0.2 0.2"]})
    with pytest.raises(DataError, match="non-finite"):
        prepare("yolo", source=src, out=tmp_path / "out")


def test_non_finite_voc_coordinate_is_refused(tmp_path):
    make_voc(tmp_path / "v", n=2)
    xml = tmp_path / "v" / "Annotations" / "img_000.xml"
    xml.write_text(_first_xmin(xml.read_text(), "nan"))
    with pytest.raises(DataError, match=r"img_000\.xml: .*<xmin> is not a finite number: 'nan'"):
        prepare("voc", source=tmp_path / "v", out=tmp_path / "out")


def _first_xmin(text: str, value: str) -> str:
    a = text.index("<xmin>") + len("<xmin>")
    return text[:a] + value + text[text.index("</xmin>", a) :]


def test_training_refuses_data_with_nothing_to_learn(tool, tmp_path, monkeypatch, capsys):
    """Every label of an unknown class id: 0 objects after conversion -> exit 2 with the counts."""
    monkeypatch.chdir(tmp_path)
    make_yolo(tmp_path / "y", {"a": ["5 0.5 0.5 0.2 0.2", "7 0.3 0.3 0.1 0.1"], "b": ["5 0.5 0.5 0.2 0.2"]})
    make_yolo(tmp_path / "y", {"c": ["0 0.5 0.5 0.2 0.2"]}, split="val")
    code = tool("train_detector").main(
        [
            "--data",
            str(tmp_path / "y"),
            "--model",
            "fasterrcnn_mobilenet_v3_large_fpn",
            "--scratch",
            "--epochs",
            "1",
            f"project={tmp_path / 'runs'}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "split 'train' has 0 objects in 2 image(s)" in err[0] and "unknown_label 3" in err[0]
    assert not (tmp_path / "runs").exists()  # no run folder for a refused start


def test_training_refuses_an_empty_split(tmp_path):
    from leukoscan.data.checks import check_detection_splits

    src = make_yolo(tmp_path / "y", {"a": ["0 0.5 0.5 0.2 0.2"]})
    (src / "images" / "val").mkdir()
    out = prepare("yolo", source=src, out=tmp_path / "out")
    with pytest.raises(DataError, match="split 'val' has no images; nothing to validate on"):
        check_detection_splits(out, "train", "val")


def test_conversion_cache_follows_the_label_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKOSCAN_RUNS", str(tmp_path / "runs"))
    src = make_yolo(tmp_path / "y", {"a": ["0 0.5 0.5 0.2 0.2"], "b": ["0 0.5 0.5 0.2 0.2"]})
    first = resolve(src)
    assert resolve(src) == first  # unchanged source: the cache is used
    stamp = (first / "report.json").stat().st_mtime_ns
    lab = src / "labels" / "train" / "a.txt"
    lab.write_text("0 0.5 0.5 0.2 0.2\n0 0.25 0.25 0.1 0.1\n")
    os.utime(lab, ns=(lab.stat().st_atime_ns, lab.stat().st_mtime_ns + 10**9))
    again = resolve(src)
    assert (again / "report.json").stat().st_mtime_ns != stamp
    coco = json.loads((again / "annotations" / "train.json").read_text())
    assert len(coco["annotations"]) == 3  # the edited label file was re-read


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_prepare_never_replaces_or_writes_into_its_source(tmp_path, where, tool, capsys):
    src = tmp_path / "d" / "voc"
    make_voc(src, n=2)
    before = _hashes(tmp_path / "d")
    out = {"same": src, "parent": tmp_path / "d", "inside": src / "converted"}[where]
    code = tool("prepare_data").main(["voc", "--source", str(src), "--out", str(out), "--overwrite", "--quiet"])
    assert code == 2 and "--out" in capsys.readouterr().err
    assert _hashes(tmp_path / "d") == before


@pytest.mark.parametrize(
    "tool_name,argv,msg",
    [
        ("train_detector", ["--epochs", "0"], "epochs must be >= 1, got 0"),
        ("train_detector", ["--epochs", "-1"], "epochs must be >= 1, got -1"),
        ("train_detector", ["--batch", "0"], "batch must be >= 1, got 0"),
        ("train_classifier", ["--epochs", "-1"], "fit.epochs must be >= 1, got -1"),
        ("train_classifier", ["--batch", "0"], "fit.batch must be >= 1, got 0"),
        ("train_classifier", ["--data", "unknown_name"], "'unknown_name' is neither a folder nor a dataset name"),
    ],
)
def test_bad_counts_are_refused_before_anything_runs(tool, tool_name, argv, msg, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert tool(tool_name).main([*argv, f"project={tmp_path / 'runs'}"]) == 2
    assert msg in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def _bccd_like(tmp_path: Path, n: int = 6) -> Path:
    """Canonical dataset of 640x480 images with cells up to ~200 px (like BCCD)."""
    from leukoscan.data.canonical import DetImage, staged_output, write_detection

    rng = np.random.default_rng(0)
    img = np.full((480, 640, 3), 230, np.uint8)
    splits = {}
    for split in ("train", "val"):
        items = []
        for i in range(n):
            side = rng.uniform(60, 200, 4)
            boxes = np.array([[50 + 100 * k, 60, 50 + 100 * k + s, 60 + s] for k, s in enumerate(side)])
            items.append(DetImage(f"{split}{i}.png", 640, 480, boxes, ["WBC"] * 4, array=img))
        splits[split] = items
    out = tmp_path / "bccd_like"
    with staged_output(out) as stage:
        write_detection(stage, out, splits, ["WBC"], progress=False)
    return out


def test_tiling_follows_cell_size_and_refuses_exploding_plans(tmp_path):
    from leukoscan.detect.tiling import count_tiles, plan_tiles, tile_grid

    data = _bccd_like(tmp_path)
    for imgsz in (128, 160, 416):  # the network input size no longer sets the tile
        plan = plan_tiles(data, ("train", "val"), mode="auto", imgsz=imgsz)
        assert plan.tile == 0 and 190 < plan.cell_px <= 200  # 640x480 images need no tiles for 200 px cells
    assert count_tiles([(480, 640)], 160, 128) == len(tile_grid(480, 640, 160, 128)) == 176  # 12 images: 2,112
    forced = plan_tiles(data, ("train", "val"), mode="on", imgsz=160)
    assert forced.overlap >= forced.cell_px and forced.tile >= 3 * forced.overlap
    with pytest.raises(
        ConfigError,
        match=r"into 160 px tiles with 128 px overlap \(stride 32 px\) would make "
        r"2,112 tiles .* over tile.max_tiles=1,000",
    ):
        plan_tiles(data, ("train", "val"), mode="on", imgsz=160, size=160, overlap=128, max_tiles=1000)
    with pytest.raises(ConfigError, match=r"tile.overlap=128 px must be smaller than the tile \(128 px\)"):
        plan_tiles(data, ("train", "val"), mode="on", imgsz=128, size=128, overlap=128)


def test_ultralytics_font_lookup_stays_local_offline(monkeypatch):
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.downloads as downloads

    from leukoscan.detect.backends.yolo import offline_fonts

    def no_network(*a, **k):
        raise AssertionError("ultralytics asked the network for a font")

    monkeypatch.setattr(downloads, "is_url", no_network)
    monkeypatch.setattr(downloads, "safe_download", no_network)
    assert offline_fonts()
    assert Path(data_utils.check_font("Arial.Unicode.ttf")).is_file()


def test_interrupt_before_the_first_epoch_says_there_is_nothing_to_resume(tool, tmp_path, monkeypatch, capsys):
    from detect_fixtures import make_tiny_dataset

    from leukoscan.detect.backends.frcnn import FrcnnDetector

    def interrupted(self, args):
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(FrcnnDetector, "fit", interrupted)
    data = make_tiny_dataset(tmp_path / "data", n_train=1, n_val=1)
    code = tool("train_detector").main(
        [
            "--data",
            str(data),
            "--model",
            "fasterrcnn_mobilenet_v3_large_fpn",
            "--scratch",
            "--epochs",
            "1",
            "--imgsz",
            "64",
            f"project={tmp_path / 'runs'}",
        ]
    )
    out = capsys.readouterr().out
    assert code == 130 and "nothing to resume" in out and "--resume" not in out
