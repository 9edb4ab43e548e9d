"""The bad-input corpus: every tool, run as a user would, on inputs made in code.

Each case asserts the contract of the tools:

- exit code as documented (2: the user's error, nothing run; 1: some batch inputs failed;
  0: all processed);
- exit 2: exactly one line on stderr, ``error: ...``, naming the file or option;
  exit 1: a ``FAILED <file>: <reason>`` line for the bad input, and every other input
  processed and in ``summary.json``, each with all its files;
- no traceback anywhere; inputs unchanged (hashes, symlinks included); no partial output
  (a refused run leaves no run folder; a failed slide has no files);
- for cases that should succeed, the result is right (e.g. 12-bit data not read as black).

A big image is stood in for by a small ``--max-pixels``. ``test_corpus_figure`` prints the
figure for the issue: cases tried / handled cleanly / tracebacks / silent wrong results /
data-loss events / code executions (set ``LEUKOSCAN_CORPUS_FIGURE=path`` to also write it as JSON).
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile
from detect_fixtures import make_untrained_models
from PIL import Image

from leukoscan.synthetic import make_smear

RESULTS: dict[str, str] = {}


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus_models")
    return {**make_untrained_models(root, n_train=2, n_val=1), "root": root}


# ---- input makers ---------------------------------------------------------------------------
def smear(path: Path, seed: int = 0, hw=(96, 128)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_smear(*hw, seed=seed).image).save(path)
    return path


def yolo_folder(root: Path, rows: dict[str, list[str]], names=("WBC",), val: dict | None = None) -> Path:
    for split, lines in (("train", rows), ("val", val if val is not None else {"v": ["0 0.5 0.5 0.3 0.3"]})):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, (stem, ls) in enumerate(lines.items()):
            smear(root / "images" / split / f"{stem}.png", i)
            (root / "labels" / split / f"{stem}.txt").write_text("".join(x + "\n" for x in ls))
    (root / "data.yaml").write_text(f"names: {list(names)}\n")
    return root


def voc_folder(root: Path, xmin: str = "keep") -> Path:
    from leukoscan.data.voc import voc_xml

    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for i in range(2):
        smear(root / "JPEGImages" / f"im{i}.jpg", i)
        xml = voc_xml(f"im{i}.jpg", 128, 96, np.array([[10, 10, 40, 40]], float), ["WBC"])
        if i == 0:  # the first object's xmin replaced by the given text
            a = xml.index("<xmin>") + len("<xmin>")
            xml = xml[:a] + xmin + xml[xml.index("</xmin>", a) :] if xmin != "keep" else xml
        (root / "Annotations" / f"im{i}.xml").write_text(xml)
    return root


def cells_folder(root: Path, labels: list[str]) -> Path:
    from leukoscan.data.canonical import CellImage, staged_output, write_cells

    items = [
        CellImage(f"c{i}.png", lab, group=f"g{i}", array=make_smear(40, 40, seed=i).image)
        for i, lab in enumerate(labels)
    ]
    with staged_output(root) as stage:
        write_cells(stage, items, progress=False)
    return root


# ---- cases ------------------------------------------------------------------------------------
@dataclass
class Case:
    tool: str
    make: Callable[[Path, dict], list[str]]  # (case dir, models) -> argv; inputs go under <dir>/in
    exit: int
    says: str  # in the error line (exit 2) or the FAILED line (exit 1)
    slides: int = 0  # slides expected in summary.json (batch cases)
    out: str = "runs"  # where outputs would appear (relative to the case dir)
    check: Callable[[Path], None] | None = None  # extra check of a result (silent wrong results)
    env: dict[str, str] = field(default_factory=dict)
    root_ok: bool = True  # False: meaningless as root (permissions)


def infer(*extra: str, out: str | None = None) -> Callable[[Path, dict], list[str]]:
    def argv(d: Path, m: dict) -> list[str]:
        args = [str(d / "in"), "--detector", m["det"], "--classifier", m["clf"], "--tile", "off", *extra]
        return args + (["--out", str(d / out)] if out else [])

    return argv


def with_inputs(make_inputs: Callable[[Path], None], argv: Callable[[Path, dict], list[str]]):
    def build(d: Path, m: dict) -> list[str]:
        smear(d / "in" / "good.png", 7)
        make_inputs(d / "in")
        return argv(d, m)

    return build


def write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(data)


def truncated_jpeg(d: Path) -> None:
    smear(d / "half.jpg", 1)
    (d / "half.jpg").write_bytes((d / "half.jpg").read_bytes()[:400])


def png_of(name: str, hw: tuple[int, int]) -> Callable[[Path], None]:
    return lambda d: Image.fromarray(np.full((*hw, 3), 200, np.uint8)).save(d / name)


def tiff_of(name: str, hw: tuple[int, int]) -> Callable[[Path], None]:
    return lambda d: tifffile.imwrite(d / name, np.full((*hw, 3), 200, np.uint8))


def bomb_png(d: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (d / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def dangling(d: Path) -> None:
    (d / "gone.png").symlink_to(d.parent / "nowhere.png")


def nested(d: Path) -> None:
    smear(d / "day1" / "a.png", 1)
    smear(d / "day1" / "b" / "c.tif", 2)
    smear(d / "day2" / "slide.png", 3)
    smear(d / "day3" / "slide.png", 4)  # same name: both kept, keyed by their folder


def loop(d: Path) -> None:
    smear(d / "sub" / "a.png", 1)
    (d / "sub" / "back").symlink_to(d, target_is_directory=True)


def twelve_bit(d: Path) -> None:
    rgb = make_smear(96, 128, seed=5).image
    tifffile.imwrite(d / "cam12.tif", ((rgb.astype(np.int64) * 4095 + 127) // 255).astype(np.uint16))


def check_twelve_bit(out: Path) -> None:
    from leukoscan.io import load_image

    cells = json.loads((out / "cam12_cells.json").read_text())
    assert cells["notes"] and cells["notes"][0].startswith("12-bit"), cells["notes"]
    ref = make_smear(96, 128, seed=5).image
    seen = load_image(out.parent.parent.parent / "in" / "cam12.tif").array  # what the tool saw
    assert np.abs(seen.astype(int) - ref).max() <= 1, "12-bit data read at the wrong scale"


def exif_rotated(d: Path) -> None:
    im = Image.fromarray(make_smear(64, 96, seed=6).image)  # stored 96 wide x 64 high
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": every viewer shows it 64 wide x 96 high
    im.save(d / "phone.jpg", exif=exif)


def check_exif(out: Path) -> None:
    cells = json.loads((out / "phone_cells.json").read_text())
    assert (cells["summary"]["width"], cells["summary"]["height"]) == (64, 96), cells["summary"]
    assert any(n.startswith("EXIF orientation 6") for n in cells["notes"]), cells["notes"]


def multipage(d: Path) -> None:
    with tifffile.TiffWriter(d / "stack.tif") as tw:
        for seed in (1, 2):
            tw.write(make_smear(96, 128, seed=seed).image, photometric="rgb")


def check_multipage(out: Path) -> None:
    cells = json.loads((out / "stack_cells.json").read_text())
    assert (cells["summary"]["width"], cells["summary"]["height"]) == (128, 96), cells["summary"]
    assert any(n.startswith("multi-page TIFF (2 pages)") for n in cells["notes"]), cells["notes"]


def check_nested(out: Path) -> None:
    assert (out / "day2" / "slide_annotated.png").is_file() and (out / "day3" / "slide_annotated.png").is_file()


def evil_pt(name: str) -> Callable[[Path, dict], Path]:
    def make(d: Path) -> Path:
        import torch

        torch.save({"leukoscan": {"backend": "yolov8n"}, "model": Payload(d.parent / "PWNED")}, d.parent / name)
        return d.parent / name

    return make


def infer_with(det: str | None = None, clf: str | None = None, extra: tuple[str, ...] = ()):
    """infer with one model replaced by a file made in the case dir (``det``/``clf``: a maker key)."""

    def build(d: Path, m: dict) -> list[str]:
        smear(d / "in" / "good.png", 7)
        m2 = dict(m)
        if det:
            m2["det"] = str(MODEL_MAKERS[det](d))
        if clf:
            m2["clf"] = str(MODEL_MAKERS[clf](d))
        return infer(*extra)(d, m2)

    return build


def _evil_pkl_run(d: Path) -> Path:
    (d / "evil_run").mkdir()
    with open(d / "evil_run" / "model.pkl", "wb") as f:
        pickle.dump(Payload(d / "PWNED"), f)
    return d / "evil_run"


def _evil_clf_pt(d: Path) -> Path:
    import torch

    (d / "evil_pt").mkdir()
    torch.save({"name": "cnn", "state_dict": Payload(d / "PWNED")}, d / "evil_pt" / "model.pt")
    return d / "evil_pt"


def _random_bytes(d: Path) -> Path:
    (d / "rand").mkdir()
    (d / "rand" / "model.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    return d / "rand" / "model.pt"


def _det_as_clf(d: Path) -> Path:
    from leukoscan import detect

    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes=1,
        class_names=["WBC"],
        pretrained=False,
        imgsz=64,
        rois_per_image=16,
    )
    return det.save(d / "detector.pt")


def _corrupt_onnx_det(d: Path) -> Path:
    import shutil

    shutil.copy(MODELS["det"], d / "det.pt")
    (d / "det.onnx").write_bytes(b"\x08\x07corrupt" * 40)
    (d / "det.json").write_text('{"backend": "fasterrcnn_mobilenet_v3_large_fpn", "class_names": ["WBC"], "imgsz": 64}')
    return d / "det.pt"


class Gadget:
    """Pickles as ``DetectionModel(cfg)``: an allow-listed class called with a file-chosen eval string."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        from ultralytics.nn.tasks import DetectionModel, yaml_model_load

        cfg = dict(yaml_model_load("yolov8n.yaml"), activation=f"__import__('os').system('touch {self.marker}')")
        return (DetectionModel, (cfg,))


def _gadget_det(d: Path) -> Path:
    import torch

    torch.save({"leukoscan": {"backend": "yolov8n"}, "model": Gadget(d / "PWNED")}, d / "gadget.pt")
    return d / "gadget.pt"


def _gadget_clf(d: Path) -> Path:
    import torch

    (d / "gadget_clf").mkdir()
    torch.save(
        {
            "name": "cnn",
            "class_names": ["blast", "normal"],
            "preprocess": {"input_size": 32},
            "build_kwargs": {},
            "state_dict": Gadget(d / "PWNED"),
        },
        d / "gadget_clf" / "model.pt",
    )
    return d / "gadget_clf"


def _skops_exec(d: Path) -> Path:
    import numpy.testing._private.utils as npt_utils
    import skops.io as sio

    (d / "skops_run").mkdir()
    sio.dump(
        {
            "format": 1,
            "kind": "sklearn",
            "name": "handcrafted+rf",
            "class_names": ["blast", "normal"],
            "preprocess": {"input_size": 32, "steps": []},
            "estimator": npt_utils.runstring,
            "features": {},
        },
        d / "skops_run" / "model.skops",
    )
    return d / "skops_run"


MODEL_MAKERS = {
    "evil_pt": evil_pt("evil.pt"),
    "gadget_det": _gadget_det,
    "gadget_clf": _gadget_clf,
    "skops_exec": _skops_exec,
    "evil_pkl": _evil_pkl_run,
    "evil_clf_pt": _evil_clf_pt,
    "random": _random_bytes,
    "det_as_clf": _det_as_clf,
    "corrupt_onnx": _corrupt_onnx_det,
}
MODELS: dict = {}


def hold_lock(d: Path, m: dict) -> list[str]:
    from leukoscan.pipeline.batch.outputs import locked_out_dir

    smear(d / "in" / "good.png", 7)
    ready = threading.Event()

    def holder():
        with locked_out_dir(d / "busy"):
            ready.set()
            HOLD.wait(30)

    threading.Thread(target=holder, daemon=True).start()
    ready.wait(10)
    return infer(out="busy")(d, m)


HOLD = threading.Event()


def prep(kind: str, make_src: Callable[[Path], Path], out: Callable[[Path], Path], *extra: str):
    def build(d: Path, m: dict) -> list[str]:
        src = make_src(d / "in")
        return [kind, "--source", str(src), "--out", str(out(d)), "--quiet", *extra]

    return build


def train_det(make_data: Callable[[Path, dict], Path] | None, *extra: str):
    def build(d: Path, m: dict) -> list[str]:
        data = make_data(d / "in", m) if make_data else Path(m["data"])
        return [
            "--data",
            str(data),
            "--model",
            "fasterrcnn_mobilenet_v3_large_fpn",
            "--scratch",
            "--imgsz",
            "64",
            f"project={d / 'runs'}",
            *extra,
        ]

    return build


def nan_in_prepared(d: Path, m: dict) -> Path:
    import shutil

    shutil.copytree(m["data"], d, dirs_exist_ok=True)
    ann = d / "annotations" / "train.json"
    coco = json.loads(ann.read_text())
    coco["annotations"][0]["bbox"][0] = float("nan")
    ann.write_text(json.dumps(coco))
    return d


def train_clf(make_data: Callable[[Path], Path] | None, *extra: str):
    def build(d: Path, m: dict) -> list[str]:
        data = ["--data", str(make_data(d / "in"))] if make_data else []
        return [*data, "--model", "cnn", "--imgsz", "32", "--scratch", f"project={d / 'runs'}", *extra]

    return build


GOOD_PNG = with_inputs(lambda d: None, infer())


def named(name: str) -> Callable[[Path], None]:
    return lambda d: smear(d / name, 3)


def check_links(out: Path) -> None:
    import html
    import re
    from urllib.parse import unquote, urlsplit

    links = [html.unescape(x) for x in re.findall(r'(?:href|src)="([^"]*)"', (out / "report.html").read_text())]
    for link in links:
        if re.fullmatch(r"#slide-\d+", link):  # in-page anchor of a slide's review section
            continue
        parts = urlsplit(link)
        assert not (parts.scheme or parts.netloc or parts.query or parts.fragment), f"link {link!r}"
        assert (out / unquote(parts.path)).is_file(), f"link {link!r} leads nowhere"


def check_csv_cells(out: Path) -> None:
    import csv

    for path in out.rglob("*.csv"):
        with open(path, newline="") as f:
            bad = [c for row in csv.reader(f) for c in row if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
        assert not bad, f"{path.name}: formula-like cells {bad[:3]}"


def user_out(d: Path, m: dict) -> list[str]:
    (d / "mine").mkdir()
    (d / "mine" / "summary.csv").write_text("the user's own table\n")
    return GOOD_PNG(d, m) + ["--out", str(d / "mine")]


def excel_manifest(d: Path, m: dict) -> list[str]:
    smear(d / "in" / "good.png", 7)
    (d / "in" / "list.csv").write_bytes("\ufeffpath\r\ngood.png\r\n".encode())
    return [str(d / "in" / "list.csv"), *infer()(d, m)[1:]]


def bad_pipeline(spec: str) -> Callable[[Path, dict], list[str]]:
    def build(d: Path, m: dict) -> list[str]:
        smear(d / "in" / "good.png", 7)
        (d / "pipe").mkdir()
        (d / "pipe" / "pipeline.json").write_text(spec.replace("DET", m["det"]).replace("CLF", m["clf"]))
        return [str(d / "in"), "--pipeline", str(d / "pipe"), "--tile", "off"]

    return build


def binary_config(d: Path, m: dict) -> list[str]:
    (d / "in" / "cfg.yaml").write_bytes(bytes(range(256)) * 4)
    return train_det(None, "--config", str(d / "in" / "cfg.yaml"))(d, m)


CASES: dict[str, Case] = {
    # infer: one bad file among good ones -> exit 1, the good one processed
    "truncated jpeg": Case("infer", with_inputs(truncated_jpeg, infer()), 1, "half.jpg", 1),
    "text named .jpg": Case("infer", with_inputs(write_bytes("t.jpg", b"hello"), infer()), 1, "t.jpg", 1),
    "zero-byte png": Case("infer", with_inputs(write_bytes("z.png", b""), infer()), 1, "z.png: empty file", 1),
    "random bytes .tif": Case(
        "infer", with_inputs(write_bytes("r.tif", os.urandom(500)), infer()), 1, "r.tif: not a readable TIFF", 1
    ),
    "unsupported .gif": Case(
        "infer", with_inputs(write_bytes("a.gif", b"GIF89a"), infer()), 1, "unsupported file type", 1
    ),
    "huge png (max-pixels)": Case(
        "infer",
        with_inputs(png_of("huge.png", (200, 200)), infer("--max-pixels", "20000")),
        1,
        "huge.png: image too large",
        1,
    ),
    "huge tiff (max-pixels)": Case(
        "infer",
        with_inputs(tiff_of("huge.tif", (200, 200)), infer("--max-pixels", "20000")),
        1,
        "huge.tif: image too large",
        1,
    ),
    "huge tiff (env limit)": Case(
        "infer",
        with_inputs(tiff_of("huge.tif", (200, 200)), infer()),
        1,
        "huge.tif: image too large",
        1,
        env={"LEUKOSCAN_MAX_PIXELS": "20000"},
    ),
    "20000x20000 png header": Case("infer", with_inputs(bomb_png, infer()), 1, "bomb.png: image too large", 1),
    "1x1 image": Case("infer", with_inputs(png_of("dot.png", (1, 1)), infer()), 1, "dot.png: image too small", 1),
    "3x500 strip": Case(
        "infer", with_inputs(png_of("strip.png", (3, 500)), infer()), 1, "strip.png: image too small", 1
    ),
    "dangling symlink": Case("infer", with_inputs(dangling, infer()), 1, "gone.png: dangling symbolic link", 1),
    "empty folder": Case("infer", infer(), 2, "folder has no files", 0),  # found before any model loads
    # infer: inputs that must be processed, and processed right
    "nested folders": Case("infer", with_inputs(nested, infer()), 0, "", 5, check=check_nested),
    "symlink loop": Case("infer", with_inputs(loop, infer()), 0, "", 2),
    "EXIF-rotated jpeg": Case("infer", with_inputs(exif_rotated, infer()), 0, "", 2, check=check_exif),
    "multi-page tiff": Case("infer", with_inputs(multipage, infer()), 0, "", 2, check=check_multipage),
    "12-bit tiff": Case("infer", with_inputs(twelve_bit, infer()), 0, "", 2, check=check_twelve_bit),
    # infer: refused before any model runs -> exit 2, nothing written
    "--out is a file": Case(
        "infer",
        lambda d, m: ((d / "f").write_text("x"), GOOD_PNG(d, m) + ["--out", str(d / "f")])[1],
        2,
        "is a file",
        out="runs",
    ),
    "--out read-only": Case(
        "infer",
        lambda d, m: ((d / "ro").mkdir(), os.chmod(d / "ro", 0o555), GOOD_PNG(d, m) + ["--out", str(d / "ro")])[2],
        2,
        "cannot write",
        root_ok=False,
    ),
    "--out in use": Case("infer", hold_lock, 2, "is in use by", out="busy"),
    "--max-pixels 0": Case("infer", with_inputs(lambda d: None, infer("--max-pixels", "0")), 2, "--max-pixels"),
    "bad LEUKOSCAN_MAX_PIXELS": Case(
        "infer", GOOD_PNG, 2, "LEUKOSCAN_MAX_PIXELS", env={"LEUKOSCAN_MAX_PIXELS": "lots"}
    ),
    "no such input": Case("infer", lambda d, m: [str(d / "nope.png"), *infer()(d, m)[1:]], 2, "no such file"),
    "booby-trapped detector .pt": Case("infer", infer_with(det="evil_pt"), 2, "evil.pt: this detector checkpoint"),
    "booby-trapped model.pkl": Case("infer", infer_with(clf="evil_pkl"), 2, "model.pkl: a pickle"),
    "booby-trapped classifier .pt": Case("infer", infer_with(clf="evil_clf_pt"), 2, "model.pt: this classifier file"),
    "classifier = detector .pt": Case("infer", infer_with(clf="det_as_clf"), 2, "not a LeukoScan torch classifier"),
    "classifier = random file": Case("infer", infer_with(clf="random"), 2, "model.pt: not a readable"),
    "detector = random file": Case("infer", infer_with(det="random"), 2, "model.pt: not a readable"),
    "corrupt .onnx": Case(
        "infer", infer_with(det="corrupt_onnx", extra=("--onnx",)), 2, "det.onnx: not a readable ONNX model"
    ),
    "constructor gadget detector .pt": Case("infer", infer_with(det="gadget_det"), 2, "gadget.pt: this detector"),
    "constructor gadget classifier .pt": Case("infer", infer_with(clf="gadget_clf"), 2, "model.pt: this classifier"),
    "skops with an exec callable": Case("infer", infer_with(clf="skops_exec"), 2, "runstring"),
    "evaluate-detector gadget .pt": Case(
        "evaluate_detector",
        lambda d, m: ["--weights", str(_gadget_det(d / "in")), "--data", m["data"]],
        2,
        "gadget.pt: this",
    ),
    "export gadget .pt": Case(
        "export",
        lambda d, m: ["--detector", str(_gadget_det(d / "in")), "--classifier", m["clf"]],
        2,
        "gadget.pt: this detector",
    ),
    # infer: names that are attacks or accidents, encoded where they land
    "javascript: slide name": Case(
        "infer",
        with_inputs(named("javascript:document.body.setAttribute('x',1);x=1+.png"), infer()),
        0,
        "",
        2,
        check=check_links,
    ),
    "slide names with # ? %": Case(
        "infer",
        with_inputs(lambda d: [named(n)(d) for n in ("a#1.png", "b?2.png", "c%41.png")], infer()),
        0,
        "",
        4,
        check=check_links,
    ),
    "formula slide names": Case(
        "infer",
        with_inputs(lambda d: [named(n)(d) for n in ("=1+1.png", "@x.png", "-2.png", "+3.png")], infer()),
        0,
        "",
        5,
        check=check_csv_cells,
    ),
    "244-byte slide name": Case("infer", with_inputs(named("L" * 240 + ".png"), infer()), 0, "", 2),
    "Excel manifest (BOM, CRLF)": Case("infer", excel_manifest, 0, "", 1),
    # infer: refused before anything is written
    "--out holds the user's files": Case(
        "infer", user_out, 2, "holds files LeukoScan did not write", out="mine_absent"
    ),
    "--device potato": Case("infer", with_inputs(lambda d: None, infer("--device", "potato")), 2, "device 'potato'"),
    "--flag-pct -5": Case("infer", with_inputs(lambda d: None, infer("--flag-pct", "-5")), 2, "--flag-pct"),
    "--flag-pct inf": Case("infer", with_inputs(lambda d: None, infer("--flag-pct", "inf")), 2, "--flag-pct"),
    "--flag-pct nan": Case("infer", with_inputs(lambda d: None, infer("--flag-pct", "nan")), 2, "--flag-pct"),
    "--margin 1e9": Case("infer", with_inputs(lambda d: None, infer("--margin", "1e9")), 2, "--margin"),
    "--tile 1": Case("infer", with_inputs(lambda d: None, infer("--tile", "1")), 2, "--tile"),
    "pipeline.json without fusion": Case(
        "infer", bad_pipeline('{"detector": "DET", "classifier": "CLF", "margin": 0.1}'), 2, "lacks fusion"
    ),
    "pipeline.json with NaN": Case(
        "infer",
        bad_pipeline('{"detector": "DET", "classifier": "CLF", "fusion": "f.json", "margin": NaN}'),
        2,
        "NaN is not a number",
    ),
    "evaluate-detector evil .pt": Case(
        "evaluate_detector",
        lambda d, m: ["--weights", str(evil_pt("e.pt")(d / "in")), "--data", m["data"]],
        2,
        "e.pt: this detector",
    ),
    "evaluate-pipeline evil .pkl": Case(
        "evaluate_pipeline",
        lambda d, m: ["--detector", m["det"], "--classifier", str(_evil_pkl_run(d / "in")), "--data", m["data"]],
        2,
        "model.pkl: a pickle",
    ),
    "export evil .pt": Case(
        "export",
        lambda d, m: ["--detector", str(evil_pt("x.pt")(d / "in")), "--classifier", m["clf"]],
        2,
        "x.pt: this detector checkpoint",
    ),
    # prepare-data
    "prepare --out = source": Case(
        "prepare_data",
        prep("voc", voc_folder, lambda d: d / "in", "--overwrite"),
        2,
        "replacing it would delete the source",
    ),
    "prepare --out = parent": Case(
        "prepare_data", prep("voc", voc_folder, lambda d: d, "--overwrite"), 2, "a folder holding the source"
    ),
    "prepare --out inside source": Case(
        "prepare_data", prep("voc", voc_folder, lambda d: d / "in" / "c"), 2, "lies inside the source"
    ),
    "prepare existing --out": Case(
        "prepare_data",
        lambda d, m: (
            (d / "o").mkdir(),
            (d / "o" / "keep").write_text("k"),
            prep("voc", voc_folder, lambda d: d / "o")(d, m),
        )[2],
        2,
        "--overwrite",
        out="o_absent",
    ),
    "yolo NaN coordinate": Case(
        "prepare_data",
        prep("yolo", lambda s: yolo_folder(s, {"a": ["0 nan 0.5 0.2 0.2"]}), lambda d: d / "o"),
        2,
        "a.txt:1: non-finite",
        out="o",
    ),
    "yolo inf size": Case(
        "prepare_data",
        prep("yolo", lambda s: yolo_folder(s, {"a": ["0 0.5 0.5 inf 0.2"]}), lambda d: d / "o"),
        2,
        "a.txt:1: non-finite",
        out="o",
    ),
    "yolo NaN class id": Case(
        "prepare_data",
        prep("yolo", lambda s: yolo_folder(s, {"a": ["nan 0.5 0.5 0.2 0.2"]}), lambda d: d / "o"),
        2,
        "a.txt:1: non-finite",
        out="o",
    ),
    "voc NaN coordinate": Case(
        "prepare_data",
        prep("voc", lambda s: voc_folder(s, "nan"), lambda d: d / "o"),
        2,
        "im0.xml: object 0 (WBC) <xmin> is not a finite number",
        out="o",
    ),
    # train-detector: refused before training
    "train-detector --epochs 0": Case("train_detector", train_det(None, "--epochs", "0"), 2, "epochs must be >= 1"),
    "train-detector --epochs -1": Case("train_detector", train_det(None, "--epochs", "-1"), 2, "epochs must be >= 1"),
    "train-detector --batch 0": Case("train_detector", train_det(None, "--batch", "0"), 2, "batch must be >= 1"),
    "all class ids unknown": Case(
        "train_detector",
        train_det(lambda s, m: yolo_folder(s, {"a": ["4 0.5 0.5 0.2 0.2"], "b": ["9 0.5 0.5 0.2 0.2"]})),
        2,
        "0 objects in 2 image(s)",
    ),
    "empty val split": Case(
        "train_detector",
        train_det(lambda s, m: yolo_folder(s, {"a": ["0 0.5 0.5 0.2 0.2"]}, val={})),
        2,
        "split 'val' has no images",
    ),
    "NaN in a prepared dataset": Case("train_detector", train_det(nan_in_prepared), 2, "non-finite (NaN/inf)"),
    "train-detector --device potato": Case(
        "train_detector", train_det(None, "--device", "potato"), 2, "device 'potato'"
    ),
    "train-detector --imgsz 100000": Case(
        "train_detector", train_det(None, "--imgsz", "100000"), 2, "imgsz must be <= 4096"
    ),
    "binary --config": Case("train_detector", binary_config, 2, "not a text (YAML) file"),
    "tiling explodes": Case(
        "train_detector",
        train_det(None, "tile.enabled=on", "tile.size=40", "tile.overlap=36", "tile.max_tiles=100"),
        2,
        "would make",
    ),
    "tile overlap >= tile": Case(
        "train_detector",
        train_det(None, "tile.enabled=on", "tile.size=40", "tile.overlap=40"),
        2,
        "must be smaller than the tile",
    ),
    # train-classifier
    "train-classifier --epochs -1": Case(
        "train_classifier", train_clf(None, "--epochs", "-1"), 2, "fit.epochs must be"
    ),
    "train-classifier --batch 0": Case("train_classifier", train_clf(None, "--batch", "0"), 2, "fit.batch must be"),
    "train-classifier unknown data": Case(
        "train_classifier", lambda d, m: ["--data", "unknown_name", f"project={d / 'runs'}"], 2, "unknown_name"
    ),
    "train-classifier --imgsz 100000": Case(
        "train_classifier", train_clf(None, "--imgsz", "100000"), 2, "imgsz must be 16-2048"
    ),
    "evaluate-detector --tile 1": Case(
        "evaluate_detector",
        lambda d, m: ["--weights", m["det"], "--data", m["data"], "--tile", "1"],
        2,
        "--tile must be",
    ),
    "evaluate-detector --device potato": Case(
        "evaluate_detector",
        lambda d, m: ["--weights", m["det"], "--data", m["data"], "--device", "potato"],
        2,
        "device 'potato'",
    ),
    "--folds larger than the groups": Case(
        "train_classifier",
        train_clf(lambda s: cells_folder(s / "cells", ["blast", "normal"] * 2), "--folds", "10"),
        2,
        "folds=10",
    ),
    "one-class cells": Case(
        "train_classifier",
        train_clf(lambda s: cells_folder(s / "cells", ["blast"] * 4)),
        2,
        "a classifier needs at least two classes",
    ),
}


def _tree(folder: Path) -> dict[str, str]:
    """Path -> content hash (files) or link target (symlinks), not following links."""
    from leukoscan.io import sha256_file

    out = {}
    for root, dirs, files in os.walk(folder):
        for n in dirs + files:
            p = Path(root) / n
            if p.is_symlink():
                out[str(p.relative_to(folder))] = "-> " + os.readlink(p)
            elif p.is_file():
                out[str(p.relative_to(folder))] = sha256_file(p)
    return out


def _files(folder: Path) -> list[str]:
    from leukoscan.pipeline.batch.outputs import LOCK_FILE

    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != LOCK_FILE)


def _summary_dir(d: Path, case: Case, argv: list[str]) -> Path | None:
    if "--out" in argv:
        return Path(argv[argv.index("--out") + 1])
    runs = sorted((d / "runs" / "infer").glob("*")) if (d / "runs" / "infer").is_dir() else []
    return runs[-1] if runs else None


def _judge(
    case: Case, d: Path, argv: list[str], code: int | None, out: str, err: str, before: dict[str, str], exc: str | None
) -> str:
    """-> "clean", "traceback", "wrong" (silent wrong result / wrong contract), "data-loss"."""
    if exc is not None or "Traceback" in out + err:
        return f"traceback: {exc or err[-500:]}"
    if any(p.exists() for p in (d.parent / "PWNED", d / "PWNED", d / "in" / "PWNED")):
        return "code-execution: a model file's payload ran"
    if _tree(d / "in") != before:
        return "data-loss: inputs changed"
    if code != case.exit:
        return f"wrong: exit {code}, expected {case.exit}; stderr {err[-300:]!r}"
    lines = [x for x in err.strip().splitlines() if x.strip()]
    if case.exit == 2:
        if len(lines) != 1 or not lines[0].startswith("error: ") or case.says not in lines[0]:
            return f"wrong: stderr {lines!r} (want one 'error: ...{case.says}...' line)"
        leftovers = _files(d / case.out) + _files(d / "runs")
        if case.out == "busy":  # the holder's folder: ours must not have written into it
            leftovers = _files(d / "runs")
        return f"wrong: partial output {leftovers[:5]}" if leftovers else "clean"
    if case.tool != "infer":
        return "clean"
    res = _summary_dir(d, case, argv)
    if res is None or not (res / "summary.json").is_file():
        return "data-loss: no summary written"
    summary = json.loads((res / "summary.json").read_text())
    if len(summary["slides"]) != case.slides:
        return f"data-loss: {len(summary['slides'])} slides in the summary, expected {case.slides}"
    files = set(_files(res))
    stems = [f[: -len("_cells.json")] for f in files if f.endswith("_cells.json")]  # keys keep sub-folders
    for stem in stems:
        annotated = {f"{stem}_annotated.png", f"{stem}_annotated.jpg"} & files
        if not annotated or not {f"{stem}_cells.csv", f"thumbs/{stem}.jpg"} <= files:
            return f"wrong: slide {stem} lacks outputs"
    if case.exit == 1:
        failed = [x for x in lines if x.startswith("FAILED ")]
        if not failed or not all(case.says in x for x in failed):
            return f"wrong: FAILED lines {failed!r} (want {case.says!r})"
        if len(stems) != case.slides:
            return f"wrong: files for {len(stems)} slides, expected {case.slides}"
    if case.check:
        try:
            case.check(res)
        except AssertionError as e:
            return f"wrong: {e}"
    return "clean"


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name, models, tool, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    if not case.root_ok and os.geteuid() == 0:
        RESULTS[name] = "skipped (root ignores permissions)"
        pytest.skip("root can write anywhere")
    MODELS.update(models)
    d = tmp_path / "case"
    (d / "in").mkdir(parents=True)
    monkeypatch.chdir(d)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    argv = case.make(d, models)
    before = _tree(d / "in")
    models_before = _tree(models["root"])
    code, exc = None, None
    try:
        code = tool(case.tool).main(argv)
    except BaseException:  # noqa: BLE001 - a traceback is the finding
        exc = traceback.format_exc()
    finally:
        HOLD.set()
        HOLD.clear()
    out, err = capsys.readouterr()
    verdict = _judge(case, d, argv, code, out, err, before, exc)
    if _tree(models["root"]) != models_before:
        verdict = "data-loss: model files changed"
    RESULTS[name] = verdict
    assert verdict == "clean", verdict


def test_corpus_figure(capsys):
    """The figure for the issue (only meaningful after the whole corpus ran)."""
    if len(RESULTS) < len(CASES):
        pytest.skip("run the whole corpus file for the figure")
    tried = [v for v in RESULTS.values() if not v.startswith("skipped")]
    fig = {
        "cases_tried": len(tried),
        "handled_cleanly": sum(v == "clean" for v in tried),
        "tracebacks": sum(v.startswith("traceback") for v in tried),
        "silent_wrong_results": sum(v.startswith("wrong") for v in tried),
        "data_loss_events": sum(v.startswith("data-loss") for v in tried),
        "code_executions": sum(v.startswith("code-execution") for v in tried),
        "skipped": [k for k, v in RESULTS.items() if v.startswith("skipped")],
    }
    if os.environ.get("LEUKOSCAN_CORPUS_FIGURE"):
        Path(os.environ["LEUKOSCAN_CORPUS_FIGURE"]).write_text(json.dumps({"figure": fig, "cases": RESULTS}, indent=1))
    assert fig["handled_cleanly"] == fig["cases_tried"], fig  # the figure: LEUKOSCAN_CORPUS_FIGURE=file
