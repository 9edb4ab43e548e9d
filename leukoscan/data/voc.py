"""Pascal VOC: XML parsing, and the ``voc`` converter for users' own folders.

VOC pixel boxes are 1-based and inclusive (``xmin = 1`` is the first column, ``xmax = W``
the last), so a box covers the continuous pixel range ``[xmin - 1, xmax]``: we convert to
``xyxy = (xmin - 1, ymin - 1, xmax, ymax)`` and back with the inverse. A box with
``xmax <= xmin`` or ``ymax <= ymin`` is degenerate (see :mod:`leukoscan.data.quality`).

Layouts accepted by the ``voc`` converter: ``Annotations/*.xml`` + ``JPEGImages/*`` (+
optional ``ImageSets/Main/{train,val,test}.txt``), or images and XML files side by side.
Without split lists every image goes to ``train`` (noted in the report).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.canonical import DetImage, write_detection
from leukoscan.data.quality import QualityReport, clean_boxes
from leukoscan.errors import DataError
from leukoscan.io import IMAGE_SUFFIXES, ImageReadError, read_image


@dataclass
class VocAnnotation:
    """One XML file: ``boxes`` (N, 4) xyxy continuous pixels, ``degenerate`` (N,) bool."""

    path: Path
    filename: str
    width: int | None
    height: int | None
    labels: list[str] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    degenerate: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _num(node: ET.Element | None, tag: str, path: Path, what: str) -> float:
    el = node.find(tag) if node is not None else None
    if el is None or el.text is None:
        raise DataError(f"{path}: {what} has no <{tag}>")
    try:
        v = float(el.text.strip())
    except ValueError:
        raise DataError(f"{path}: {what} <{tag}> is not a number: {el.text.strip()!r}") from None
    if not math.isfinite(v):
        raise DataError(f"{path}: {what} <{tag}> is not a finite number: {el.text.strip()!r}")
    return v


def parse_voc(path: str | Path) -> VocAnnotation:
    """Parse one VOC XML file; raise DataError naming the file on any malformation."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{path}: malformed XML ({e})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: not a Pascal VOC file (root <{root.tag}>, expected <annotation>)")
    fname = (root.findtext("filename") or "").strip()
    size = root.find("size")
    w = int(_num(size, "width", path, "<size>")) if size is not None else None
    h = int(_num(size, "height", path, "<size>")) if size is not None else None
    labels, raw = [], []
    for i, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        what = f"object {i} ({name or 'no name'})"
        if bb is None:
            raise DataError(f"{path}: {what} has no <bndbox>")
        raw.append([_num(bb, t, path, what) for t in ("xmin", "ymin", "xmax", "ymax")])
        labels.append(name)
    r = np.asarray(raw, np.float64).reshape(-1, 4)
    boxes = np.stack([r[:, 0] - 1, r[:, 1] - 1, r[:, 2], r[:, 3]], axis=1)
    degenerate = (r[:, 2] <= r[:, 0]) | (r[:, 3] <= r[:, 1])
    return VocAnnotation(path, fname, w, h, labels, boxes, degenerate)


def voc_xml(filename: str, width: int, height: int, boxes: np.ndarray, labels: list[str]) -> str:
    """A VOC XML string for xyxy pixel ``boxes`` (rounded to VOC's 1-based integers)."""
    objs = []
    for (x1, y1, x2, y2), lab in zip(np.asarray(boxes, np.float64).reshape(-1, 4), labels, strict=True):
        objs.append(
            f"  <object><name>{lab}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{int(round(x1)) + 1}</xmin><ymin>{int(round(y1)) + 1}</ymin>"
            f"<xmax>{int(round(x2))}</xmax><ymax>{int(round(y2))}</ymax></bndbox></object>"
        )
    return (
        f"<annotation>\n  <filename>{filename}</filename>\n  <size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>\n" + "\n".join(objs) + "\n</annotation>\n"
    )


def image_size(path: Path) -> tuple[int, int]:
    """Fully decode ``path`` (catches 0-byte, mislabelled and truncated files); -> (W, H)."""
    try:
        arr = read_image(path)
    except ImageReadError as e:
        raise DataError(str(e)) from None
    return arr.shape[1], arr.shape[0]


def voc_image(ann: VocAnnotation, img: Path, names: list[str], report: QualityReport) -> DetImage:
    """Check one image against its annotation and apply the box rules."""
    w, h = image_size(img)
    if ann.width and ann.height and (ann.width, ann.height) != (w, h):
        report.add(
            "size_mismatch",
            ann.path.name,
            f"XML says {ann.width}x{ann.height}, image is {w}x{h}",
            "image size used",
        )
    boxes, labels = clean_boxes(img.name, ann.boxes, ann.labels, (w, h), names, report, degenerate=ann.degenerate)
    return DetImage(img.name, w, h, boxes, labels, src=img)


def find_image(folder: Path, stem: str, hint: str = "") -> Path | None:
    if hint and (folder / hint).is_file():
        return folder / hint
    for suf in IMAGE_SUFFIXES:
        for s in (suf, suf.upper()):
            if (folder / f"{stem}{s}").is_file():
                return folder / f"{stem}{s}"
    return None


def _voc_dirs(src: Path) -> tuple[Path, Path]:
    if (src / "Annotations").is_dir():
        return src / "Annotations", src / "JPEGImages" if (src / "JPEGImages").is_dir() else src / "images"
    return src, src


@converter("voc", generic=True)
def convert_voc(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    names: list[str] | None = None,
) -> None:
    """Any VOC folder -> canonical detection form (class names: ``names`` or sorted found)."""
    ann_dir, img_dir = _voc_dirs(src)
    xmls = sorted(ann_dir.glob("*.xml"))
    if not xmls:
        raise DataError(f"{ann_dir}: no .xml annotation files")
    anns = {p.stem: parse_voc(p) for p in xmls}
    names = list(names) if names else sorted({lab for a in anns.values() for lab in a.labels})
    split_dir = src / "ImageSets" / "Main"
    splits = {
        s: [x.strip() for x in (split_dir / f"{s}.txt").read_text().split() if x.strip()]
        for s in ("train", "val", "test")
        if (split_dir / f"{s}.txt").is_file()
    }
    if not splits:
        splits = {"train": sorted(anns)}
        report.note("no ImageSets/Main split lists: every image is in 'train' (data.yaml val = train)")
    out = {}
    for split, ids in splits.items():
        items = []
        for stem in ids:
            if stem not in anns:
                raise DataError(
                    f"{split_dir / (split + '.txt')}: lists {stem!r} but {ann_dir / (stem + '.xml')} is missing"
                )
            img = find_image(img_dir, stem, anns[stem].filename)
            if img is None:
                raise DataError(f"{anns[stem].path}: no image {stem}.* in {img_dir}")
            items.append(voc_image(anns[stem], img, names, report))
        out[split] = items
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    write_detection(stage, final, out, names, progress=progress)
