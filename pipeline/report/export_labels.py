"""Batch predictions as label files other tools read: COCO (pycocotools) and CVAT for images 1.1.

``exports/`` of a batch folder holds

- ``coco_dataset.json``: a COCO detection file (images named by slide key, categories =
  the cell calls, or the cell types when the pipeline's type stage ran (``untyped``: a
  detection it found not to be a white cell), one annotation per cell with its ``score`` and ``attributes``). It is the
  ground-truth side for ``pycocotools.coco.COCO`` and a dataset ``prepare-data coco`` reads.
- ``coco_predictions.json``: the COCO results list (``image_id``, ``category_id``, ``bbox``
  ``[x, y, w, h]`` px, ``score`` = detector score x confidence of the call) for
  ``COCO("coco_dataset.json").loadRes("coco_predictions.json")``.
- ``cvat_annotations.xml``: CVAT for images 1.1 (Upload annotations -> "CVAT 1.1" in a
  task holding the same images under the same relative names) to correct the calls.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from leukoscan.io import atomic_write_json, atomic_write_text
from leukoscan.pipeline.report.differential import UNTYPED

COCO_DATASET, COCO_PREDICTIONS, CVAT_XML = "coco_dataset.json", "coco_predictions.json", "cvat_annotations.xml"


def category(row: dict[str, Any]) -> str:
    """A cell's export category: its type when the type stage ran (``untyped`` for a non-cell),
    else its call (``blast`` / ``normal``)."""
    if "cell_type" in row:
        return row["cell_type"] or UNTYPED
    return row["cell_class"]


def _categories(cells: dict[str, list[dict[str, Any]]], classes: list[str]) -> list[str]:
    names = list(classes)
    for rows in cells.values():
        names += [category(r) for r in rows if category(r) not in names]
    return names


def coco_dataset(
    records: list[dict[str, Any]], cells: dict[str, list[dict[str, Any]]], classes: list[str]
) -> dict[str, Any]:
    """COCO detection dict; image ids 1..N in ``records`` order, category ids 1..K."""
    names = _categories(cells, classes)
    cat_id = {n: i + 1 for i, n in enumerate(names)}
    images, anns = [], []
    for img_id, rec in enumerate(records, start=1):
        s = rec["summary"]
        images.append({"id": img_id, "file_name": rec["key"], "width": s["width"], "height": s["height"]})
        for r in cells.get(rec["key"], []):
            w, h = r["x2_px"] - r["x1_px"], r["y2_px"] - r["y1_px"]
            conf = r["det_score"] if r.get("det_score") is not None else 1.0
            typed = "cell_type" in r
            call = r.get("type_conf") if typed else r.get("call_conf")
            if call is not None:
                conf *= call
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": cat_id[category(r)],
                    "bbox": [r["x1_px"], r["y1_px"], round(w, 1), round(h, 1)],
                    "area": round(w * h, 1),
                    "iscrowd": 0,
                    "score": round(conf, 4),
                    "attributes": {
                        k: r.get(k)
                        for k in ("det_score", "blast_prob", "call_conf", "call_by")
                        + (("cell_class", "type_conf") if typed else ())
                        if k in r
                    },
                }
            )
    return {
        "info": {"description": "LeukoScan predictions", "date_created": time.strftime("%Y-%m-%d")},
        "images": images,
        "annotations": anns,
        "categories": [{"id": i, "name": n, "supercategory": "leukocyte"} for n, i in cat_id.items()],
    }


def coco_predictions(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """The COCO results list of ``dataset`` (what ``COCO.loadRes`` takes)."""
    return [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": a["score"]}
        for a in dataset["annotations"]
    ]


def cvat_xml(dataset: dict[str, Any]) -> str:
    """CVAT for images 1.1 XML: one ``<image>`` per slide, one ``<box>`` (source "auto") per cell."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(task, "name").text = "leukoscan predictions"
    ET.SubElement(task, "size").text = str(len(dataset["images"]))
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    for c in dataset["categories"]:
        lab = ET.SubElement(labels, "label")
        ET.SubElement(lab, "name").text = c["name"]
        ET.SubElement(lab, "type").text = "rectangle"
        ET.SubElement(lab, "attributes")
    names = {c["id"]: c["name"] for c in dataset["categories"]}
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in dataset["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for k, im in enumerate(dataset["images"]):
        el = ET.SubElement(
            root, "image", id=str(k), name=im["file_name"], width=str(im["width"]), height=str(im["height"])
        )
        for a in by_image.get(im["id"], []):
            x, y, w, h = a["bbox"]
            ET.SubElement(
                el,
                "box",
                label=names[a["category_id"]],
                source="auto",
                occluded="0",
                xtl=f"{x:.2f}",
                ytl=f"{y:.2f}",
                xbr=f"{x + w:.2f}",
                ybr=f"{y + h:.2f}",
                z_order="0",
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_exports(
    folder: Path, records: list[dict[str, Any]], cells: dict[str, list[dict[str, Any]]], classes: list[str]
) -> dict[str, Path]:
    """Write the three files of the module docstring into ``folder``; return their paths."""
    ds = coco_dataset(records, cells, classes)
    out = {
        "coco_dataset": folder / COCO_DATASET,
        "coco_predictions": folder / COCO_PREDICTIONS,
        "cvat": folder / CVAT_XML,
    }
    atomic_write_json(out["coco_dataset"], ds)
    atomic_write_json(out["coco_predictions"], coco_predictions(ds))
    atomic_write_text(out["cvat"], cvat_xml(ds))
    return out


__all__ = ["coco_dataset", "coco_predictions", "cvat_xml", "write_exports"]
