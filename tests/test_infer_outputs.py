"""Inference outputs with stand-in models: report, folders with bad files, image modes, inputs untouched."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from PIL import Image

from leukoscan.io import ImageReadError, read_image, sha256_file
from leukoscan.pipeline.batch.runner import run_batch
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig
from leukoscan.pipeline.report.summary import SlideRules, summarize
from leukoscan.synthetic import make_smear


class GroundTruthDetector:
    """Stand-in detector: returns the synthetic leukocytes of the image it was built from."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, image, *, conf=0.25, iou=0.5, tile=None):
        self.calls += 1
        h, w = image.shape[:2]
        s = make_smear(h, w, seed=0)
        keep = [i for i, n in enumerate(s.labels) if n in ("blast", "leukocyte")]
        if not keep:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=s.boxes[keep].astype(np.float32),
            confidence=np.full(len(keep), 0.9, np.float32),
            class_id=np.zeros(len(keep), int),
            data={"class_name": np.array(["WBC"] * len(keep))},
        )


class HalfBlastClassifier:
    """Stand-in classifier: blast probability 0.9 for even crops, 0.1 for odd ones."""

    class_names = ("blast", "normal")

    class preprocess:  # noqa: N801 - mimics the model's preprocess config
        input_size = 32

    def predict_proba(self, crops):
        assert all(c.shape == (32, 32, 3) for c in crops)
        p = np.array([0.9 if i % 2 == 0 else 0.1 for i in range(len(crops))], np.float32)
        return np.stack([p, 1 - p], axis=1)


@pytest.fixture()
def pipe() -> Pipeline:
    return Pipeline(GroundTruthDetector(), HalfBlastClassifier(), PipelineConfig())


def _write_smear(path: Path, seed: int = 0, size=(120, 160)) -> None:
    Image.fromarray(make_smear(*size, seed=seed).image).save(path)


def test_summary_counts_and_ci(pipe):
    image = make_smear(120, 160, seed=0).image
    det = pipe(image)
    s = summarize(det, image="x.png", image_hw=image.shape[:2], rules=SlideRules(min_cells=1, flag_rule="point"))
    n = len(det)
    assert s.leukocytes == n and s.blasts == (n + 1) // 2
    if n:
        assert s.blast_pct_ci95[0] <= s.blast_pct <= s.blast_pct_ci95[1]
        assert s.flagged == (s.blast_pct >= 20)
        # the default rule: this few cells are never FLAG or clear
        s = summarize(det, image="x.png", image_hw=image.shape[:2], flag_pct=20)
        assert n < 12 and s.status == "insufficient cells" and not s.flagged and s.review


def test_empty_slide_summary():
    det = sv.Detections.empty()
    s = summarize(det, image="e.png", image_hw=(10, 10), flag_pct=20)
    assert (s.leukocytes, s.blasts, s.blast_pct, s.flagged) == (0, 0, None, False)
    assert s.status == "no leukocytes" and s.review  # a quiet zero is a slide to review


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.rows = 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        if tag == "tr":
            self.rows += 1


def test_folder_with_bad_file_report_and_inputs_unchanged(pipe, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _write_smear(src / "a.png", 0)
    _write_smear(src / "b.jpg", 1)
    (src / "bad.jpg").write_text("not an image")
    (src / "notes.txt").write_text("hello")
    before = {p.name: sha256_file(p) for p in src.iterdir()}
    out = tmp_path / "out"
    res = run_batch(pipe, [src], out)
    assert {p.name: sha256_file(p) for p in src.iterdir()} == before
    assert not res.ok
    failed = sorted(Path(p).name for p, _ in res.failures)
    assert failed == ["bad.jpg", "notes.txt"]
    assert [s.image for s in res.summaries] == ["a.png", "b.jpg"]
    for stem, ext in (("a", "png"), ("b", "jpg")):  # annotated: JPEG for JPEG inputs, else PNG
        annotated = read_image(out / f"{stem}_annotated.{ext}")
        assert annotated.shape[1] > 160 and annotated.shape[0] > 120  # banner, footer, side list added
        cells = json.loads((out / f"{stem}_cells.json").read_text())
        assert cells["summary"]["leukocytes"] == len(cells["cells"])
        assert (out / f"{stem}_cells.csv").read_text().startswith("cell_id,x1_px,")
    parser = _Parser()
    parser.feed((out / "report.html").read_text())
    assert sorted(i for i in parser.imgs if i.startswith("thumbs/")) == ["thumbs/a.jpg", "thumbs/b.jpg"]
    assert all((out / s).is_file() for s in parser.imgs)  # thumbnails, annotated images, crop sheets
    assert not list(out.rglob(".*.tmp*"))


def test_same_stem_inputs_do_not_overwrite(pipe, tmp_path):
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        _write_smear(tmp_path / d / "slide.png")
    res = run_batch(pipe, [tmp_path / "x" / "slide.png", tmp_path / "y" / "slide.png"], tmp_path / "o")
    assert res.ok and [s.image for s in res.summaries] == ["x/slide.png", "y/slide.png"]
    assert (tmp_path / "o" / "x" / "slide_annotated.png").is_file()
    assert (tmp_path / "o" / "y" / "slide_annotated.png").is_file()


@pytest.mark.parametrize("mode", ["jpeg", "png", "gray", "rgba", "tiff8", "tiff_lzw", "tiff16", "tiff_gray16"])
def test_supported_image_modes(tmp_path, mode):
    import tifffile

    rgb = make_smear(48, 64, seed=3).image
    if mode == "jpeg":
        p = tmp_path / "x.jpg"
        Image.fromarray(rgb).save(p, quality=95)
    elif mode == "png":
        p = tmp_path / "x.png"
        Image.fromarray(rgb).save(p)
    elif mode == "gray":
        p = tmp_path / "x.png"
        Image.fromarray(rgb[:, :, 1]).save(p)
    elif mode == "rgba":
        p = tmp_path / "x.png"
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(p)
    elif mode == "tiff8":
        p = tmp_path / "x.tif"
        tifffile.imwrite(p, rgb)
    elif mode == "tiff_lzw":
        p = tmp_path / "x.tif"
        tifffile.imwrite(p, rgb, compression="lzw")
    elif mode == "tiff16":
        p = tmp_path / "x.tiff"
        tifffile.imwrite(p, rgb.astype(np.uint16) * 257)
    else:
        p = tmp_path / "x.tif"
        tifffile.imwrite(p, rgb[:, :, 0].astype(np.uint16) * 257)
    out = read_image(p)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    ref = rgb if mode not in ("gray", "tiff_gray16") else np.repeat(rgb[:, :, (1 if mode == "gray" else 0), None], 3, 2)
    tol = 12 if mode == "jpeg" else 0
    assert np.abs(out.astype(int) - ref.astype(int)).mean() <= tol


@pytest.mark.parametrize(
    "name,content",
    [("x.gif", b"GIF89a"), ("x.webp", b"RIFF"), ("x.jpg", b""), ("x.png", b"\x89PNG\r\n\x1a\n truncated")],
)
def test_unsupported_or_broken_images_are_rejected(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ImageReadError, match=name):
        read_image(p)


def test_unreadable_image_after_ultralytics_import(tmp_path):
    """ultralytics patches PIL's Image.open (HEIF plugin auto-install); errors stay clear."""
    from leukoscan import detect

    detect.build("yolov8n", num_classes=1, pretrained=False)._initial_model()  # imports ultralytics

    p = tmp_path / "fake.jpg"
    p.write_text("not an image")
    with pytest.raises(ImageReadError, match="fake.jpg"):
        read_image(p)


def test_annotation_colours_blast_red_normal_blue():
    from leukoscan.pipeline.report.slide_report import annotate

    image = np.full((60, 120, 3), 255, np.uint8)
    det = sv.Detections(xyxy=np.array([[5, 20, 50, 55], [65, 20, 110, 55]], np.float32))
    det.data["cell_class"] = np.array(["blast", "normal"], dtype=object)
    det.data["blast_prob"] = np.array([0.9, 0.1], np.float32)
    out = annotate(image, det)
    top = out.shape[0] - 60  # banner and legend above the slide, no footer
    left, right = out[top + 40, 5].astype(int), out[top + 40, 65].astype(int)  # left edges of the boxes
    assert left[0] > left[2] + 100 and right[2] > right[0] + 100
    assert (image == 255).all()  # input untouched
