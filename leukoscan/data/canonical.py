"""The canonical prepared-dataset form: writers (used by every converter) and readers.

Detection::

    <out>/images/<split>/<file>          the images (copied, never re-encoded)
    <out>/labels/<split>/<stem>.txt      YOLO: ``class cx cy w h``, normalised to [0, 1]
    <out>/annotations/<split>.json       COCO: category ids 1..K in ``names`` order,
                                         bbox ``[x, y, w, h]`` pixels, image ids 1..N
    <out>/splits/<split>.txt             the file names of the split, one a line
    <out>/data.yaml                      ultralytics: path (absolute), train/val/test, names
    <out>/report.json                    the data-quality report

Classification (cells)::

    <out>/cells/<class>/<file>
    <out>/index.csv                      file (relative to out), label, group, split

Outputs are built in a temporary sibling folder and renamed into place at the end
(:func:`staged_output`), so a failed conversion leaves no partial output.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leukoscan.encode import csv_rows, read_csv_dicts
from leukoscan.errors import DataError, OutputExistsError
from leukoscan.io import write_image

SPLIT_ORDER = ("train", "val", "test")


@dataclass
class DetImage:
    """One detection image: ``boxes`` (N, 4) xyxy pixels, ``labels`` N class names."""

    file: str
    width: int
    height: int
    boxes: np.ndarray
    labels: list[str]
    src: Path | None = None  # file to copy; or
    array: np.ndarray | None = None  # RGB uint8 (H, W, 3) to encode (synthetic data)


@dataclass
class CellImage:
    """One single-cell crop for classification."""

    file: str
    label: str
    group: str = ""
    split: str = ""
    src: Path | None = None
    array: np.ndarray | None = None


@dataclass
class DetRecord:
    """A prepared detection image as read back: ``boxes`` (N, 4) xyxy float32 pixels."""

    path: Path
    width: int
    height: int
    boxes: np.ndarray
    class_ids: np.ndarray  # (N,) int64, 0-based in ``names`` order
    labels: list[str] = field(default_factory=list)


@contextmanager
def staged_output(out: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces ``out``, on error it vanishes.

    Raises OutputExistsError (a FileExistsError) when ``out`` is a non-empty folder (or a file) and not ``overwrite``.
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputExistsError(f"{out} already exists and is not empty; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield stage
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            stage.rename(out)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            stage.rename(out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def _put_image(dst: Path, src: Path | None, array: np.ndarray | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if array is not None:
        write_image(dst, array)
    elif src is not None:
        shutil.copyfile(src, dst)
    else:
        raise ValueError(f"{dst.name}: neither a source file nor pixels given")


def yolo_lines(boxes: np.ndarray, class_ids: list[int], width: int, height: int) -> list[str]:
    """xyxy pixels -> YOLO ``class cx cy w h`` lines normalised by the image size."""
    out = []
    for (x1, y1, x2, y2), c in zip(np.asarray(boxes, np.float64).reshape(-1, 4), class_ids, strict=True):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        bw, bh = (x2 - x1) / width, (y2 - y1) / height
        out.append(f"{c} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    return out


def coco_dict(images: list[DetImage], names: list[str]) -> dict:
    """COCO json for one split (category ids 1..K in ``names`` order, image ids 1..N)."""
    cat = {n: i + 1 for i, n in enumerate(names)}
    imgs, anns = [], []
    for i, im in enumerate(images, start=1):
        imgs.append({"id": i, "file_name": im.file, "width": im.width, "height": im.height})
        for (x1, y1, x2, y2), lab in zip(np.asarray(im.boxes, np.float64).reshape(-1, 4), im.labels, strict=True):
            w, h = x2 - x1, y2 - y1
            bbox = [
                round(float(x1), 3),
                round(float(y1), 3),
                round(float(w), 3),
                round(float(h), 3),
            ]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": cat[lab],
                    "bbox": bbox,
                    "area": round(float(w * h), 3),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": n, "supercategory": "cell"} for i, n in enumerate(names)]
    return {"images": imgs, "annotations": anns, "categories": categories}


def write_detection(
    stage: Path,
    final: Path,
    splits: dict[str, list[DetImage]],
    names: list[str],
    *,
    progress: bool = True,
) -> None:
    """Write the detection form of ``splits`` into ``stage`` (data.yaml points at ``final``)."""
    import yaml
    from tqdm import tqdm

    cls = {n: i for i, n in enumerate(names)}
    for split, images in splits.items():
        seen: set[str] = set()
        for im in tqdm(images, desc=f"write {split}", disable=not progress, leave=False):
            if im.file in seen:
                raise DataError(f"{im.file}: two images with the same name in split {split}")
            seen.add(im.file)
            _put_image(stage / "images" / split / im.file, im.src, im.array)
            lines = yolo_lines(im.boxes, [cls[lab] for lab in im.labels], im.width, im.height)
            lab_path = stage / "labels" / split / (Path(im.file).stem + ".txt")
            lab_path.parent.mkdir(parents=True, exist_ok=True)
            lab_path.write_text("".join(line + "\n" for line in lines))
        (stage / "splits").mkdir(exist_ok=True)
        (stage / "splits" / f"{split}.txt").write_text("".join(im.file + "\n" for im in images))
        (stage / "annotations").mkdir(exist_ok=True)
        (stage / "annotations" / f"{split}.json").write_text(json.dumps(coco_dict(images, names)))
    present = [s for s in SPLIT_ORDER if s in splits] + [s for s in splits if s not in SPLIT_ORDER]
    cfg: dict = {"path": str(Path(final).absolute())}
    for s in present:
        cfg[s] = f"images/{s}"
    if "train" in cfg and "val" not in cfg:
        cfg["val"] = cfg["train"]  # ultralytics needs a val entry; the report notes it
    cfg["names"] = dict(enumerate(names))
    (stage / "data.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def write_cells(stage: Path, items: list[CellImage], *, progress: bool = True) -> None:
    """Write ``cells/<class>/<file>`` and ``index.csv`` (file, label, group, split)."""
    from tqdm import tqdm

    rows = []
    for it in tqdm(items, desc="write cells", disable=not progress, leave=False):
        rel = Path("cells") / it.label / it.file
        if (stage / rel).exists():
            raise DataError(f"{it.file}: two crops with the same name in class {it.label}")
        _put_image(stage / rel, it.src, it.array)
        rows.append({"file": rel.as_posix(), "label": it.label, "group": it.group, "split": it.split})
    with open(stage / "index.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["file", "label", "group", "split"])
        wr.writeheader()
        wr.writerows(csv_rows(rows))


def canonical_kind(folder: str | Path) -> str | None:
    """``"detection"``, ``"cells"`` or None when ``folder`` is not in canonical form."""
    folder = Path(folder)
    if (folder / "data.yaml").is_file() and (folder / "labels").is_dir() and (folder / "annotations").is_dir():
        return "detection"
    if (folder / "index.csv").is_file() and (folder / "cells").is_dir():
        return "cells"
    return None


def read_names(folder: str | Path) -> list[str]:
    """Class names of a prepared dataset (detection: data.yaml; cells: sorted labels)."""
    folder = Path(folder)
    if canonical_kind(folder) == "cells":
        return sorted({r["label"] for r in read_index(folder)})
    import yaml

    names = yaml.safe_load((folder / "data.yaml").read_text())["names"]
    return [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)


def read_coco(folder: str | Path, split: str) -> dict:
    """The COCO dict of a prepared split; a missing split names the ones that exist."""
    folder = Path(folder)
    ann_path = folder / "annotations" / f"{split}.json"
    if not ann_path.is_file():
        have = sorted(p.stem for p in (folder / "annotations").glob("*.json"))
        raise DataError(f"{ann_path}: no split {split!r} in {folder} (have: {', '.join(have)})")
    return json.loads(ann_path.read_text())


def read_detection(folder: str | Path, split: str) -> list[DetRecord]:
    """A prepared detection split from its COCO json: boxes xyxy float32 pixels, 0-based ids."""
    folder = Path(folder)
    coco = read_coco(folder, split)
    cat_names = {c["id"]: c["name"] for c in coco["categories"]}
    per_img: dict[int, list[dict]] = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        per_img[a["image_id"]].append(a)
    out = []
    for im in coco["images"]:
        anns = per_img[im["id"]]
        xywh = np.asarray([a["bbox"] for a in anns], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        out.append(
            DetRecord(
                folder / "images" / split / im["file_name"],
                im["width"],
                im["height"],
                xyxy,
                np.asarray([a["category_id"] - 1 for a in anns], np.int64),
                [cat_names[a["category_id"]] for a in anns],
            )
        )
    return out


def read_index(folder: str | Path) -> list[dict[str, str]]:
    """Rows of a cells dataset's index.csv (file relative to ``folder``, label, group, split)."""
    return read_csv_dicts(Path(folder) / "index.csv")
