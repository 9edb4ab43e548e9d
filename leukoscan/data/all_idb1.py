"""ALL-IDB1 (full-field slides + centroids) -> canonical detection form.

- Classes ``blast`` (``xyc/*.xyc``, one ``x y`` per line, tab or space) and ``leukocyte``
  (``other/*.xyc`` points that pass the leukocyte test of :mod:`leukoscan.data.cell_extent`;
  the others are dropped and reported). An ``other`` point within ``0.02 x width`` of a
  blast centroid is the same cell: dropped, reported ``other_duplicate_of_blast``.
- Boxes: from the image, per cell (:mod:`leukoscan.data.cell_extent`); fallbacks reported.
- Image label from the ``_0``/``_1`` suffix (1 = ALL patient). Byte-identical images (by
  SHA-256) share a group and are kept in one split.
- Splits: ``split_file`` (CSV ``image,split``), else ``allidb1_dev_split.csv`` next to the
  ALL_IDB1 folder, else a grouped stratified split (seed ``seed``; groups from
  ``allidb1_image_meta.csv`` ``group_id`` when present, else content hashes).
- Extra outputs: ``centroids/<split>.json`` ``{file: {"blast": [[x, y]...], "leukocyte": [...]}}``
  and ``image_labels.csv`` (file, label, group, split, camera).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from leukoscan.data import cell_extent as ce
from leukoscan.data._registry import converter
from leukoscan.data.canonical import DetImage, write_detection
from leukoscan.data.quality import QualityReport, clean_boxes
from leukoscan.data.splits import grouped_stratified_split, read_split_file
from leukoscan.encode import csv_row
from leukoscan.errors import DataError
from leukoscan.io import ImageReadError, list_images, read_image, sha256_file

NAMES = ["blast", "leukocyte"]


def read_xyc(path: Path) -> np.ndarray:
    """Centroids (N, 2) ``x, y`` pixels; blank lines skipped; anything else -> DataError."""
    pts = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    for i, line in enumerate(text.splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if len(vals) not in (2, 3) or not np.all(np.isfinite(vals)):
            raise DataError(f"{path}:{i}: expected two numbers 'x y', got {line.strip()!r}")
        pts.append((vals[0], vals[1]))
    return np.asarray(pts, np.float64).reshape(-1, 2)


def image_label(stem: str) -> int:
    if len(stem) < 2 or stem[-2] != "_" or stem[-1] not in "01":
        raise DataError(f"{stem}: ALL-IDB name must end in _0 or _1 (got {stem!r})")
    return int(stem[-1])


def _groups(src: Path, stems: list[str], hashes: dict[str, str]) -> dict[str, str]:
    first = {}
    for s in stems:
        first.setdefault(hashes[s], s)
    groups = {s: f"dup:{first[hashes[s]]}" for s in stems}
    meta = src.parent / "allidb1_image_meta.csv"
    if meta.is_file():
        with open(meta, newline="") as f:
            gid = {r["image"]: r.get("group_id", "") for r in csv.DictReader(f)}
        for s in stems:
            if gid.get(s):
                groups[s] = f"group{gid[s]}"
        for s in stems:  # identical images must share a group even if meta disagrees
            groups[s] = groups[first[hashes[s]]]
    return groups


def _splits(src, stems, labels, groups, hashes, split_file, seed, report) -> dict[str, str]:
    path = Path(split_file) if split_file else src.parent / "allidb1_dev_split.csv"
    if split_file or path.is_file():
        table = read_split_file(path)
        report.note(f"splits from {path}")
        out = {}
        for s in stems:
            if s not in table:
                report.add("not_in_split_file", s, str(path), "image left out")
                continue
            out[s] = table[s]
    else:
        assigned = grouped_stratified_split([str(labels[s]) for s in stems], [groups[s] for s in stems], seed=seed)
        out = dict(zip(stems, assigned, strict=True))
        report.note(f"grouped stratified split (seed {seed}, groups: duplicates/meta group_id)")
    by_hash: dict[str, str] = {}
    for s in stems:  # byte-identical images go where the first one went
        if s not in out:
            continue
        h = hashes[s]
        if h in by_hash:
            twin = next(t for t in stems if hashes[t] == h)
            report.add("duplicate_image", s, f"byte-identical to {twin}", "kept, same split and group")
        if h in by_hash and out[s] != by_hash[h]:
            report.add(
                "duplicate_image_split",
                s,
                f"identical to an image in {by_hash[h]}",
                f"moved to {by_hash[h]}",
            )
            out[s] = by_hash[h]
        by_hash.setdefault(h, out[s])
    return out


def _measure_all(src: Path, imgs: list[Path], report: QualityReport, progress: bool) -> dict:
    from tqdm import tqdm

    data = {}
    for img in tqdm(imgs, desc="all_idb1 cells", disable=not progress, leave=False):
        try:
            rgb = read_image(img)
        except ImageReadError as e:
            raise DataError(str(e)) from None
        h, w = rgb.shape[:2]
        blasts = read_xyc(src / "xyc" / f"{img.stem}.xyc")
        other_p = src / "other" / f"{img.stem}.xyc"
        others = read_xyc(other_p) if other_p.is_file() else np.zeros((0, 2))
        for kind, pts in (("blast", blasts), ("other", others)):
            bad = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] >= w) | (pts[:, 1] >= h)
            if bad.any():
                raise DataError(f"{img.stem}.xyc ({kind}): centroid {pts[bad][0].tolist()} outside the {w}x{h} image")
        seeds = np.concatenate([blasts, others])
        data[img.stem] = dict(
            path=img,
            w=w,
            h=h,
            blasts=blasts,
            others=others,
            bb=ce.measure(rgb, blasts, seeds=seeds),
            ob=ce.measure(rgb, others, seeds=seeds),
        )
    return data


def _boxes_for(stem: str, d: dict, default_side: float, report: QualityReport):
    """-> boxes (N, 4), labels, kept leukocyte centroids."""
    w, h = d["w"], d["h"]
    near = ce.PEAK_FRAC * max(w, h)
    keep_o = []
    for p, b in zip(d["others"], d["ob"], strict=True):
        if len(d["blasts"]) and np.min(np.hypot(*(d["blasts"] - p).T)) < near:
            report.add("other_duplicate_of_blast", f"{stem}.xyc", f"other point {p.tolist()}", "dropped")
        elif not ce.is_leukocyte(b, max(w, h)):
            why = f"contrast {b.contrast:.2f}, nucleus {b.eq_diameter:.0f} px"
            report.add("other_not_leukocyte", f"{stem}.xyc", f"point {p.tolist()}: {why}", "dropped")
        else:
            keep_o.append(b)
    good = [b.side for b in d["bb"] if b.box is not None] + [b.side for b in keep_o]
    median = float(np.median(good)) if good else default_side
    boxes, labels = [], []
    for b in d["bb"]:
        if ce.size_ok(b, median):
            boxes.append(b.box)
        else:
            why = "no nucleus-coloured blob" if b.box is None else f"blob side {b.side:.0f} px vs median {median:.0f}"
            report.add(
                "fallback_box",
                f"{stem}.xyc",
                f"blast {[float(b.x), float(b.y)]}: {why}",
                f"square {median:.0f} px",
            )
            boxes.append(ce.square(b.x, b.y, median, w, h))
        labels.append("blast")
    for b in keep_o:
        boxes.append(b.box if ce.size_ok(b, median) else ce.square(b.x, b.y, median, w, h))
        labels.append("leukocyte")
    return np.asarray(boxes, np.float64).reshape(-1, 4), labels, [[b.x, b.y] for b in keep_o]


@converter("all_idb1", side_files=("allidb1_dev_split.csv", "allidb1_image_meta.csv"))
def convert_all_idb1(
    src: Path,
    stage: Path,
    final: Path,
    report: QualityReport,
    *,
    progress: bool = True,
    split_file: str | Path | None = None,
    seed: int = 0,
    images: list[str] | None = None,
) -> None:
    """``src`` = the ALL_IDB1 folder (``im/``, ``xyc/``, optional ``other/``); ``images``: stems subset."""
    imgs = list_images(src / "im")
    if images is not None:
        imgs = [p for p in imgs if p.stem in set(images)]
        report.note(f"subset of {len(imgs)} images")
    if not imgs:
        raise DataError(f"{src / 'im'}: no images")
    stems = [p.stem for p in imgs]
    labels = {s: image_label(s) for s in stems}
    for s in stems:  # validate every centroid file before any heavy work
        if not (src / "xyc" / f"{s}.xyc").is_file():
            raise DataError(f"{src / 'xyc' / (s + '.xyc')}: missing centroid file for image {s}")
        read_xyc(src / "xyc" / f"{s}.xyc")
        if (src / "other" / f"{s}.xyc").is_file():
            read_xyc(src / "other" / f"{s}.xyc")
    hashes = {p.stem: sha256_file(p) for p in imgs}
    groups = _groups(src, stems, hashes)
    split_of = _splits(src, stems, labels, groups, hashes, split_file, seed, report)
    data = _measure_all(src, [p for p in imgs if p.stem in split_of], report, progress)
    per_size = defaultdict(list)
    for d in data.values():
        per_size[(d["w"], d["h"])] += [b.side for b in d["bb"] if b.box is not None]
    default = {k: float(np.median(v)) if v else 0.08 * max(k) for k, v in per_size.items()}
    out, cents = defaultdict(list), defaultdict(dict)
    for s, d in data.items():
        boxes, labs, leuk = _boxes_for(s, d, default[(d["w"], d["h"])], report)
        boxes, labs = clean_boxes(d["path"].name, boxes, labs, (d["w"], d["h"]), NAMES, report)
        out[split_of[s]].append(DetImage(d["path"].name, d["w"], d["h"], boxes, labs, src=d["path"]))
        cents[split_of[s]][d["path"].name] = {"blast": d["blasts"].tolist(), "leukocyte": leuk}
    out = {
        k: out[k]
        for k in sorted(
            out,
            key=lambda x: ("train", "val", "test").index(x) if x in ("train", "val", "test") else 9,
        )
    }
    for split, items in out.items():
        report.count(split, [lab for it in items for lab in it.labels], len(items))
    write_detection(stage, final, out, NAMES, progress=progress)
    (stage / "centroids").mkdir()
    for split, c in cents.items():
        (stage / "centroids" / f"{split}.json").write_text(json.dumps(c, indent=1))
    with open(stage / "image_labels.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["file", "label", "group", "split", "camera"])
        for s, d in data.items():
            wr.writerow(csv_row([d["path"].name, labels[s], groups[s], split_of[s], f"{d['w']}x{d['h']}"]))
    report.extra["cell_box_rule"] = {
        "expand": ce.EXPAND,
        "min_contrast": ce.MIN_CONTRAST,
        "min_nucleus_frac": ce.MIN_NUCLEUS_FRAC,
        "size_range": ce.SIZE_RANGE,
    }
