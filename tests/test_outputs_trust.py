"""Issue 14: outputs a person can read and trust (stand-in models, no training).

Provenance in every output, the annotated image (banner, legend, call-confidence labels
that do not overlap, "no leukocytes found", JPEG/PNG), the batch identity and resume
manifest, COCO / CVAT exports and the way back into training, infer flag parity.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import supervision as sv
from standins import AlternatingClassifier, TruthDetector, standin_pipeline, write_smear

from leukoscan.errors import ConfigError
from leukoscan.io import read_image
from leukoscan.pipeline.batch.runner import OutputOptions, run_batch
from leukoscan.pipeline.infer.provenance import provenance, provenance_lines
from leukoscan.pipeline.infer.sources import model_source
from leukoscan.pipeline.report.annotate import annotate, cell_labels, side_list_lines
from leukoscan.pipeline.report.slide_report import cell_rows
from leukoscan.pipeline.report.summary import SlideRules

# ---- 1. provenance --------------------------------------------------------------------------

PROV_KEYS = {"leukoscan_version", "git_commit", "detector", "classifier", "device", "thresholds", "tiling"}


def test_provenance_in_summary_cells_report_and_image(tmp_path):
    pipe = standin_pipeline()
    write_smear(tmp_path / "in" / "a.png")
    res = run_batch(pipe, [tmp_path / "in"], tmp_path / "out", rules=SlideRules(flag_pct=25))
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert PROV_KEYS <= set(summary["provenance"])
    assert summary["provenance"]["thresholds"] == {
        "conf": 0.25,
        "iou": pipe.cfg.iou,
        "blast_threshold": 0.5,
        "max_det": None,
        "flag_pct": 25,
        "min_cells": 12,
        "flag_rule": "lower",
        "uncertain_band": 0.15,
    }
    assert summary["provenance"]["detector"]["name"] == "truth-standin"
    cells = json.loads((out / "a_cells.json").read_text())
    assert PROV_KEYS <= set(cells["provenance"]) and cells["units"]["x1_px"] == "px"
    assert cells["source"]["key"] == "a.png" and len(cells["source"]["sha256"]) == 64
    html = (out / "report.html").read_text()
    assert "truth-standin" in html and "alternating-standin" in html and "blast threshold 0.5" in html
    # the footer of the annotated image is extra rows below the slide
    img = read_image(out / "a_annotated.png")
    assert img.shape[0] > 120 + 40 and res.provenance["leukoscan_version"]


def test_model_source_names_run_and_hash(tmp_path):
    run = tmp_path / "runs" / "classify" / "r1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: x\n")
    (run / "model.pkl").write_bytes(b"weights")
    src = model_source("classifier", run, "handcrafted+svm")
    assert src.run == str(run) and src.weights.endswith("model.pkl")
    assert src.sha256.startswith("a6d") or len(src.sha256) == 64
    assert str(run) in src.short and src.sha256[:12] in src.short


def test_provenance_lines_mark_implicit_choice():
    pipe = standin_pipeline()
    prov = provenance(pipe, flag_pct=20)
    prov["detector"]["chosen"] = "newest run (implicit)"
    lines = provenance_lines(prov)
    assert "implicitly" in lines[0] and "leukoscan" in lines[-1] and "tiling" in lines[2]


# ---- 2. annotated image ---------------------------------------------------------------------


def _det(xyxy, classes, probs):
    d = sv.Detections(xyxy=np.asarray(xyxy, np.float32), confidence=np.full(len(xyxy), 0.9, np.float32))
    d.data["cell_class"] = np.array(classes, dtype=object)
    d.data["blast_prob"] = np.array(probs, np.float32)
    return d


def test_labels_show_confidence_of_the_call():
    det = _det([[0, 0, 10, 10]] * 3, ["blast", "normal", "leukocyte"], [0.91, 0.12, np.nan])
    assert cell_labels(det) == ["blast 0.91", "normal 0.88", "leukocyte"]


def test_side_list_numbers_every_cell_as_the_cells_table():
    det = _det([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40]], ["blast", "normal", "blast"], [0.91, 0.12, 0.55])
    assert side_list_lines(det) == ["1 blast 0.91", "2 normal 0.88", "3 blast 0.55 ?"]
    assert [r["cell_id"] for r in cell_rows(det)] == [1, 2, 3]


def test_banner_legend_and_no_leukocytes_message(tmp_path):
    pipe = standin_pipeline()
    blank = tmp_path / "in" / "blank.png"
    blank.parent.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.full((300, 400, 3), 230, np.uint8)).save(blank)
    run_batch(pipe, [blank], tmp_path / "out")
    img = read_image(tmp_path / "out" / "blank_annotated.png")
    cells = json.loads((tmp_path / "out" / "blank_cells.json").read_text())
    assert cells["cells"] == [] and cells["summary"]["blast_pct"] is None
    # red text is written across the middle of the (otherwise grey) slide, and in the banner
    top = img.shape[0] - 300 - (img.shape[0] - 300 - _header_height(img))
    mid = img[top + 120 : top + 180]
    red = (mid[..., 0] > 150) & (mid[..., 1] < 80) & (mid[..., 2] < 80)
    assert red.sum() > 50
    banner = img[: _header_height(img)]
    assert ((banner[..., 0] > 150) & (banner[..., 1] < 80)).sum() > 20


def _header_height(img: np.ndarray) -> int:
    """Rows above the slide: the first row (from the top) whose pixels are the blank slide grey."""
    for y in range(img.shape[0]):
        if (img[y] == 230).all():
            return y
    raise AssertionError("slide not found")


def test_annotated_canvas_keeps_slide_pixels_outside_boxes():
    image = np.full((200, 300, 3), 250, np.uint8)
    det = _det([[100, 80, 160, 140]], ["blast"], [0.8])
    out = annotate(image, det, footer=["detector: x"])
    assert out.shape[1] > 300 and out.shape[0] > 200  # the slide, then the side list of calls
    assert (image == 250).all()  # input untouched


def test_jpeg_for_jpeg_inputs_quality_flag_and_png_on_request(tmp_path):
    pipe = standin_pipeline()
    src = write_smear(tmp_path / "in" / "s.jpg", size=(240, 320), quality=92)
    run_batch(pipe, [src], tmp_path / "q90")
    run_batch(pipe, [src], tmp_path / "q40", options=OutputOptions(jpeg_quality=40))
    run_batch(pipe, [src], tmp_path / "png", options=OutputOptions(image_format="png"))
    q90, q40 = tmp_path / "q90" / "s_annotated.jpg", tmp_path / "q40" / "s_annotated.jpg"
    assert q90.read_bytes()[:2] == b"\xff\xd8" and q40.stat().st_size < q90.stat().st_size
    assert (tmp_path / "png" / "s_annotated.png").read_bytes()[:4] == b"\x89PNG"


# ---- 4. batch identity and resume ------------------------------------------------------------


def test_same_name_in_two_folders_gives_two_rows_and_outputs(tmp_path):
    pipe = standin_pipeline()
    a = write_smear(tmp_path / "pA" / "001.jpg")
    b = write_smear(tmp_path / "pB" / "001.jpg")
    res = run_batch(pipe, [tmp_path / "pA", tmp_path / "pB"], tmp_path / "out")
    assert [s.image for s in res.summaries] == ["pA/001.jpg", "pB/001.jpg"]
    rows = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert rows[1].startswith("pA/001.jpg,") and rows[2].startswith("pB/001.jpg,")
    assert str(a.absolute()) in rows[1] and str(b.absolute()) in rows[2]
    for key in ("pA/001", "pB/001"):
        assert (tmp_path / "out" / f"{key}_annotated.jpg").is_file()
        assert json.loads((tmp_path / "out" / f"{key}_cells.json").read_text())["source"]["key"] == key + ".jpg"


def test_rerun_skips_finished_slides_and_summary_covers_all(tmp_path):
    pipe = standin_pipeline()
    for i in range(2):
        write_smear(tmp_path / "in" / f"s{i}.png")
    out = tmp_path / "out"
    run_batch(pipe, [tmp_path / "in"], out)
    assert pipe.detector.calls == 2
    write_smear(tmp_path / "in" / "s2.png")
    res = run_batch(pipe, [tmp_path / "in"], out)
    assert pipe.detector.calls == 3 and res.skipped == ["s0.png", "s1.png"]
    assert [s.image for s in res.summaries] == ["s2.png"]
    summary = json.loads((out / "summary.json").read_text())
    assert [s["image"] for s in summary["slides"]] == ["s0.png", "s1.png", "s2.png"]
    assert summary["totals"]["slides"] == 3
    # a later batch of other slides into the same --out adds to the report
    write_smear(tmp_path / "more" / "t.png")
    run_batch(pipe, [tmp_path / "more"], out)
    assert len(json.loads((out / "summary.json").read_text())["slides"]) == 4
    # --overwrite redoes the given slides
    res = run_batch(pipe, [tmp_path / "in"], out, overwrite=True)
    assert pipe.detector.calls == 7 and not res.skipped


def test_rerun_with_other_settings_is_refused_unless_overwrite(tmp_path):
    write_smear(tmp_path / "in" / "s.png")
    run_batch(standin_pipeline(), [tmp_path / "in"], tmp_path / "out")
    with pytest.raises(ConfigError, match="other settings.*thresholds"):
        run_batch(standin_pipeline(conf=0.5), [tmp_path / "in"], tmp_path / "out")
    res = run_batch(standin_pipeline(conf=0.5), [tmp_path / "in"], tmp_path / "out", overwrite=True)
    assert len(res.summaries) == 1


def test_changed_input_is_redone(tmp_path):
    pipe = standin_pipeline()
    src = write_smear(tmp_path / "in" / "s.png", seed=1)
    run_batch(pipe, [src], tmp_path / "out")
    write_smear(src, seed=2)
    res = run_batch(pipe, [src], tmp_path / "out")
    assert not res.skipped and len(res.summaries) == 1


# ---- 5. exports ---------------------------------------------------------------------------------


def test_coco_predictions_load_with_pycocotools(tmp_path):
    from pycocotools.coco import COCO

    pipe = standin_pipeline()
    write_smear(tmp_path / "in" / "pA" / "1.png")
    write_smear(tmp_path / "in" / "pB" / "1.png")
    run_batch(pipe, [tmp_path / "in" / "pA", tmp_path / "in" / "pB"], tmp_path / "out")
    ex = tmp_path / "out" / "exports"
    gt = COCO(str(ex / "coco_dataset.json"))
    dt = gt.loadRes(str(ex / "coco_predictions.json"))
    assert sorted(im["file_name"] for im in gt.dataset["images"]) == ["pA/1.png", "pB/1.png"]
    assert {c["name"] for c in gt.dataset["categories"]} == {"blast", "normal"}
    assert len(dt.getAnnIds()) == len(gt.getAnnIds()) > 0
    blast_id = gt.getCatIds(catNms=["blast"])[0]
    cells = json.loads((tmp_path / "out" / "pA" / "1_cells.json").read_text())["cells"]
    assert len(dt.getAnnIds(imgIds=[1], catIds=[blast_id])) == sum(c["cell_class"] == "blast" for c in cells)


def test_cvat_export_reads_back_with_an_independent_parser(tmp_path):
    lf = pytest.importorskip("labelformat.formats.cvat")
    pipe = standin_pipeline()
    write_smear(tmp_path / "in" / "s.png")
    run_batch(pipe, [tmp_path / "in"], tmp_path / "out")
    xml = tmp_path / "out" / "exports" / "cvat_annotations.xml"
    reader = lf.CVATObjectDetectionInput(input_file=xml)
    assert [c.name for c in reader.get_categories()] == ["blast", "normal"]
    (img,) = list(reader.get_labels())
    cells = json.loads((tmp_path / "out" / "s_cells.json").read_text())["cells"]
    assert img.image.filename == "s.png" and (img.image.width, img.image.height) == (160, 120)
    assert [o.category.name for o in img.objects] == [c["cell_class"] for c in cells]
    got = np.array([o.box.to_format(lf.BoundingBoxFormat.XYXY) for o in img.objects])
    want = np.array([[c["x1_px"], c["y1_px"], c["x2_px"], c["y2_px"]] for c in cells])
    assert np.allclose(got, want, atol=0.01)
    root = __import__("xml.etree.ElementTree").etree.ElementTree.parse(xml).getroot()
    assert root.findtext("version") == "1.1" and root.find("image/box").get("source") == "auto"


def test_exported_coco_goes_back_into_training_with_prepare_data(tmp_path):
    """README: a corrected COCO export -> prepare-data coco -> a training dataset."""
    from leukoscan.data import prepare, read_names

    pipe = standin_pipeline()
    for i in range(2):
        write_smear(tmp_path / "in" / f"s{i}.png")
    run_batch(pipe, [tmp_path / "in"], tmp_path / "out")
    corrected = tmp_path / "corrected"
    (corrected / "annotations").mkdir(parents=True)
    shutil.copy(tmp_path / "out" / "exports" / "coco_dataset.json", corrected / "annotations" / "train.json")
    shutil.copytree(tmp_path / "in", corrected / "images" / "train")
    data = prepare("coco", source=corrected, out=tmp_path / "data")
    assert read_names(data) == ["blast", "normal"]
    labels = sorted((data / "labels" / "train").glob("*.txt"))
    n_cells = len(json.loads((tmp_path / "out" / "s0_cells.json").read_text())["cells"])
    assert len(labels) == 2 and len(labels[0].read_text().splitlines()) == n_cells


# ---- 6. flags parity ------------------------------------------------------------------------------


def test_save_txt_save_conf_and_max_det(tmp_path):
    pipe = standin_pipeline(max_det=2)
    write_smear(tmp_path / "in" / "s.png", size=(480, 640))
    run_batch(pipe, [tmp_path / "in"], tmp_path / "out", options=OutputOptions(save_txt=True, save_conf=True))
    lines = (tmp_path / "out" / "labels" / "s.txt").read_text().splitlines()
    assert len(lines) == 2 and all(len(x.split()) == 6 for x in lines)
    cls, xc, yc, w, h, conf = lines[0].split()
    assert cls in ("0", "1") and 0 < float(xc) < 1 and float(conf) == pytest.approx(0.95, abs=1e-3)


@pytest.mark.parametrize(
    "item,msg",
    [("conff=0.3", "Did you mean 'conf'"), ("iou=high", "not a valid float"), ("image_format=gif", "choose from")],
)
def test_infer_overrides_are_checked(tool, tmp_path, capsys, item, msg):
    write_smear(tmp_path / "s.png")
    assert tool("infer").main([str(tmp_path / "s.png"), item]) == 2
    assert msg in capsys.readouterr().err


def test_infer_overrides_and_flags_reach_the_pipeline(tool, tmp_path, monkeypatch, capsys):
    import leukoscan.pipeline.infer.cascade as pl
    import leukoscan.tools.infer as infer_cmd

    seen = {}

    def fake_load(det, clf, cfg, *, onnx=False, device=None, **kw):
        seen.update(cfg=cfg, device=device)
        p = pl.Pipeline(TruthDetector(), AlternatingClassifier(), cfg)
        return p.to(device)

    monkeypatch.setattr(infer_cmd, "load_pipeline", fake_load)
    write_smear(tmp_path / "s.png")
    rc = tool("infer").main(
        [
            str(tmp_path / "s.png"),
            "--out",
            str(tmp_path / "o"),
            "--iou",
            "0.4",
            "conf=0.3",
            "max_det=5",
            "device=cuda:1",
            "save_txt=true",
        ]
    )
    assert rc == 0
    cfg = seen["cfg"]
    assert (cfg.conf, cfg.iou, cfg.max_det, seen["device"]) == (0.3, 0.4, 5, "cuda:1")
    assert (tmp_path / "o" / "labels" / "s.txt").is_file()
    out = capsys.readouterr().out
    assert "# detector: " in out and "device cuda:1" in out  # console header names models and device


def test_pipeline_to_reaches_both_models():
    pipe = standin_pipeline().to("cuda:3")
    assert pipe.detector.device == "cuda:3" and pipe.classifier.device == "cuda:3"
    assert provenance(pipe)["device"] == {"detector": "cuda:3", "classifier": "cuda:3"}


def test_inputs_named_like_overrides_are_files(tmp_path):
    from leukoscan.tools.infer import get_args_parser, overrides_onto_args

    odd = write_smear(tmp_path / "a=b.png")
    ap = get_args_parser()
    args = overrides_onto_args(ap, ap.parse_args([str(odd), "conf=0.3"]))
    assert args.inputs == [str(odd)] and args.conf == 0.3


def test_report_links_full_images_and_cell_tables(tmp_path):
    import html.parser

    pipe = standin_pipeline()
    write_smear(tmp_path / "in" / "pA" / "1.png")
    write_smear(tmp_path / "in" / "pB" / "1.png")
    run_batch(pipe, [tmp_path / "in" / "pA", tmp_path / "in" / "pB"], tmp_path / "out")

    class P(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.links, self.ids, self.heads = [], set(), []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "a":
                self.links.append(a["href"])
            if "id" in a:
                self.ids.add(a["id"])
            if tag == "th" and "data-key" in a:
                self.heads.append(a["data-key"])

    p = P()
    p.feed((tmp_path / "out" / "report.html").read_text())
    for key in ("pA/1", "pB/1"):
        assert f"{key}_annotated.png" in p.links and f"{key}_cells.csv" in p.links
    assert all((tmp_path / "out" / link).is_file() for link in p.links if not link.startswith("#"))
    assert all(link[1:] in p.ids for link in p.links if link.startswith("#"))  # review sections
    assert {"totals", "provenance", "slides"} <= p.ids and "blast_pct" in p.heads
