"""COCO json folders: the ``coco`` converter (users' own data), and format detection.

Layout: one json per split, ``annotations/<split>.json`` or ``annotations/instances_<split>.json``
(or ``*.json`` at the top), with images in ``images/<split>/``, ``<split>/``, ``images/`` or
the top folder. Class names: categories sorted by id. ``bbox`` is ``[x, y, w, h]`` pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.canonical import DetImage, write_detection
from leukoscan.data.quality import QualityReport, clean_boxes
from leukoscan.data.voc import image_size
from leukoscan.errors import DataError


def _split_name(p: Path) -> str:
    stem = p.stem.removeprefix("instances_")
    return {"training": "train", "validation": "val"}.get(stem, stem)


def _image_dir(src: Path, split: str) -> Path:
    for cand in (src / "images" / split, src / split, src / "images", src):
        if cand.is_dir():
            return cand
    return src


def load_coco(path: Path) -> dict:
    try:
        coco = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: malformed JSON ({e})") from None
    if not isinstance(coco, dict) or not all(k in coco for k in ("images", "annotations", "categories")):
        raise DataError(f"{path}: not a COCO detection file (needs images, annotations, categories)")
    return coco


def coco_items(path: Path, img_dir: Path, names: list[str], report: QualityReport) -> list[DetImage]:
    coco = load_coco(path)
    cat = {c["id"]: str(c["name"]) for c in coco["categories"]}
    anns: dict = {}
    for a in coco["annotations"]:
        try:
            anns.setdefault(a["image_id"], []).append(
                (
                    cat.get(a["category_id"], f"category {a['category_id']}"),
                    [float(v) for v in a["bbox"]],
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: bad annotation {a.get('id', '?')} ({e!r})") from None
    items = []
    for im in coco["images"]:
        img = img_dir / im["file_name"]
        if not img.is_file():
            raise DataError(f"{path}: image {im['file_name']} not found in {img_dir}")
        w, h = image_size(img)
        objs = anns.get(im["id"], [])
        xywh = np.asarray([b for _, b in objs], np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        deg = (xywh[:, 2] <= 0) | (xywh[:, 3] <= 0)
        b, lab = clean_boxes(img.name, boxes, [n for n, _ in objs], (w, h), names, report, degenerate=deg)
        items.append(DetImage(Path(im["file_name"]).name, w, h, b, lab, src=img))
    return items


def coco_jsons(src: Path) -> list[Path]:
    folder = src / "annotations" if (src / "annotations").is_dir() else src
    return sorted(folder.glob("*.json"))


@converter("coco", generic=True)
def convert_coco(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    names: list[str] | None = None,
) -> None:
    """Any COCO folder -> canonical detection form."""
    jsons = coco_jsons(src)
    if not jsons:
        raise DataError(f"{src}: no COCO .json files (looked in annotations/ and the folder itself)")
    if not names:
        cats: dict = {}
        for j in jsons:
            cats.update({c["id"]: str(c["name"]) for c in load_coco(j)["categories"]})
        names = [cats[k] for k in sorted(cats)]
    out = {}
    for j in jsons:
        split = _split_name(j)
        items = coco_items(j, _image_dir(src, split), list(names), report)
        out[split] = items
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    write_detection(stage, final, out, list(names), progress=progress)


def detect_format(folder: str | Path) -> str | None:
    """``"voc"``, ``"yolo"``, ``"coco"`` or None for a raw dataset folder."""
    folder = Path(folder)
    if (folder / "Annotations").is_dir() or any(folder.glob("*.xml")):
        return "voc"
    if (folder / "labels").is_dir():
        return "yolo"
    if coco_jsons(folder):
        return "coco"
    return None
