"""YOLO folders: reader and the ``yolo`` converter (users' folders; also used by ``txl_pbc``).

Layout: ``images/<split>/*`` with ``labels/<split>/<stem>.txt`` (``class cx cy w h``
normalised), or flat ``images/`` + ``labels/`` (all -> ``train``, noted). Class names from
``data.yaml`` (``names``) when present, else the ``names`` option, else ``"0"``, ``"1"``...
An image without a label file has no objects (YOLO convention; reported ``no_objects``).
A label line that is not 5 numbers raises DataError naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leukoscan.data._registry import converter
from leukoscan.data.canonical import SPLIT_ORDER, DetImage, write_detection
from leukoscan.data.quality import QualityReport, clean_boxes
from leukoscan.data.voc import image_size
from leukoscan.errors import DataError
from leukoscan.io import IMAGE_SUFFIXES


def read_yolo_labels(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (class ids (N,), boxes (N, 4) xyxy pixels, degenerate (N,) bool)."""
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DataError(f"{path}:{i}: expected 'class cx cy w h', got {len(parts)} fields: {line.strip()!r}")
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise DataError(f"{path}:{i}: not a number in {line.strip()!r}") from None
        if not np.isfinite(vals).all():
            raise DataError(f"{path}:{i}: non-finite (NaN/inf) value in {line.strip()!r}")
        if vals[0] != int(vals[0]) or vals[0] < 0:
            raise DataError(f"{path}:{i}: class id {parts[0]!r} is not a non-negative integer")
        rows.append(vals)
    a = np.asarray(rows, np.float64).reshape(-1, 5)
    cx, cy, w, h = a[:, 1] * width, a[:, 2] * height, a[:, 3] * width, a[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return a[:, 0].astype(np.int64), boxes, (a[:, 3] <= 0) | (a[:, 4] <= 0)


def yolo_names(src: Path, names: list[str] | None) -> list[str] | None:
    if names:
        return list(names)
    yml = src / "data.yaml"
    if yml.is_file():
        import yaml

        try:
            raw = (yaml.safe_load(yml.read_text()) or {}).get("names")
        except yaml.YAMLError as e:
            raise DataError(f"{yml}: malformed YAML ({e})") from None
        if isinstance(raw, dict):
            return [str(raw[k]) for k in sorted(raw)]
        if isinstance(raw, list):
            return [str(n) for n in raw]
    return None


def yolo_splits(src: Path) -> dict[str, tuple[Path, Path]]:
    """split -> (image folder, label folder)."""
    img_root = src / "images" if (src / "images").is_dir() else src
    lab_root = src / "labels" if (src / "labels").is_dir() else src
    subs = [d.name for d in sorted(img_root.iterdir()) if d.is_dir()] if img_root.is_dir() else []
    subs = [s for s in SPLIT_ORDER if s in subs] + [s for s in subs if s not in SPLIT_ORDER]
    if subs:
        return {s: (img_root / s, lab_root / s) for s in subs}
    return {"train": (img_root, lab_root)}


def read_exclude(path: str | Path) -> set[str]:
    """Names (file names or stems, one a line; '#' comments) to leave out."""
    out = set()
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(Path(line).name)
            out.add(Path(line).stem)
    return out


def convert_yolo_folder(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    names: list[str] | None,
    exclude: set[str] = frozenset(),
    progress: bool = True,
) -> None:
    from tqdm import tqdm

    splits = yolo_splits(src)
    if list(splits) == ["train"] and not (src / "images" / "train").is_dir():
        report.note("no split sub-folders: every image is in 'train' (data.yaml val = train)")
    per_split: dict[str, list[tuple[Path, np.ndarray, np.ndarray, np.ndarray, int, int]]] = {}
    max_id = -1
    used_excl: set[str] = set()
    for split, (img_dir, lab_dir) in splits.items():
        rows = []
        imgs = sorted(p for p in img_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        for img in tqdm(imgs, desc=f"read {split}", disable=not progress, leave=False):
            if img.name in exclude or img.stem in exclude:
                used_excl |= {img.name, img.stem}
                report.add("excluded", img.name, f"split {split}", "dropped (--exclude)")
                continue
            w, h = image_size(img)
            lab = lab_dir / f"{img.stem}.txt"
            ids, boxes, deg = (
                read_yolo_labels(lab, w, h)
                if lab.is_file()
                else (np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, bool))
            )
            max_id = max(max_id, int(ids.max(initial=-1)))
            rows.append((img, ids, boxes, deg, w, h))
        per_split[split] = rows
    if not any(per_split.values()):
        raise DataError(f"{src}: no images found")
    names = names or [str(i) for i in range(max_id + 1)]
    if exclude - used_excl:
        unmatched = sorted(n for n in exclude - used_excl if Path(n).stem not in used_excl)
        if unmatched:
            report.note(f"--exclude names not found ({len(unmatched)}): {', '.join(unmatched[:10])}")
    out = {}
    for split, rows in per_split.items():
        items = []
        for img, ids, boxes, deg, w, h in rows:
            labels = [names[i] if i < len(names) else f"class {i}" for i in ids]
            b, lab = clean_boxes(img.name, boxes, labels, (w, h), names, report, degenerate=deg)
            items.append(DetImage(img.name, w, h, b, lab, src=img))
        out[split] = items
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    write_detection(stage, final, out, names, progress=progress)


@converter("yolo", generic=True)
def convert_yolo(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    names: list[str] | None = None,
    exclude: str | Path | None = None,
) -> None:
    """Any YOLO folder -> canonical detection form."""
    convert_yolo_folder(
        src,
        stage,
        final,
        report,
        names=yolo_names(src, names),
        exclude=read_exclude(exclude) if exclude else set(),
        progress=progress,
    )


def yolo_labels_as_det(img_dir: Path, lab_dir: Path, names: list[str], report: QualityReport) -> list[DetImage]:
    """Every image of one YOLO split folder with its cleaned boxes (``names``: the class map)."""
    items = []
    for img in sorted(p for p in img_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        w, h = image_size(img)
        lab = lab_dir / f"{img.stem}.txt"
        if lab.is_file():
            ids, boxes, deg = read_yolo_labels(lab, w, h)
        else:
            ids, boxes, deg = np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, bool)
        labels = [names[i] if i < len(names) else f"class {i}" for i in ids]
        b, lab_names = clean_boxes(img.name, boxes, labels, (w, h), names, report, degenerate=deg)
        items.append(DetImage(img.name, w, h, b, lab_names, src=img))
    return items
