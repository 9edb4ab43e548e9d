"""The local-only variant of the open-data detector: ``blood_fields`` + the ALL-IDB1 dev-train slides.

    python benchmarks/blood_fields_allidb1.py --data-root ../shared/data --out runs/data/blood_fields_allidb1
    leukoscan train-detector --data runs/data/blood_fields_allidb1 --epochs 12 --imgsz 320 --scratch \\
        --name blood_allidb1_yolov8n seed=0 threads=1

ALL-IDB1 is licensed for research use: this set and any weights trained on it stay local
(never bundled, never committed).

One class map (``WBC``, ``RBC``, ``Platelets``). ALL-IDB1 marks leukocytes only (blasts and
other leukocytes, both become ``WBC``); it does not label red cells or platelets, and
training on its tiles as they are would teach the detector that every red cell is
background. So the red cells and platelets of each ALL-IDB1 tile are **pseudo-labelled** by
the bundled open-data detector (``blood_fields_yolov8n``, trained on BCCD + TXL-PBC only):
its ``RBC`` / ``Platelets`` boxes at ``--pseudo-conf`` (0.25, the operating threshold) that do not overlap an annotated
leukocyte (IoU < 0.1). Its ``WBC`` boxes are not used: the annotation is the only source of
leukocytes (Olympus slides list fewer leukocytes than they show, a known limit).

Scale: ALL-IDB1 cells are smaller in pixels than BCCD's (median annotated box 142 px against
208 px for a BCCD WBC in a 640 px field), so each tile is ``--tile`` (448) px, about
640 x 142 / 208, and a cell meets the detector at BCCD's scale once the tile is resized to
the training size. One tile is cut around each annotated leukocyte (clipped to the slide;
every other annotated cell inside it is labelled by the border rule), plus
``--negatives-per-slide`` (1) random tiles per slide, so the set is not dominated by tiles of
plain red cells. Splits: ``train`` = blood_fields train + the ALL-IDB1 dev-train tiles;
``val`` = BCCD val (untouched, as for blood_fields); ``val_txl`` as in blood_fields. ALL-IDB1
dev-val is never read here (it is the variant's test in ``universal_detector.py``).
``--allidb1-only``: train = the ALL-IDB1 tiles alone (the single-source model; its red cells
and platelets still come from the open-data teacher).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import supervision as sv

from leukoscan import detect
from leukoscan.bundled import bundled_file
from leukoscan.data import resolve
from leukoscan.data.canonical import DetImage, read_detection, read_names, staged_output, write_detection
from leukoscan.detect.tiling import boxes_in_tile
from leukoscan.io import read_image
from leukoscan.schema import CLASS_NAME

NAMES = ["WBC", "RBC", "Platelets"]
PSEUDO = ("RBC", "Platelets")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True)
    p.add_argument("--blood-fields", default="runs/data/blood_fields", help="prepared blood_fields folder")
    p.add_argument(
        "--teacher",
        default="blood_fields_yolov8n",
        help="bundled name or weights file: the RBC/platelet pseudo-labeller",
    )
    p.add_argument("--tile", type=int, default=448)
    p.add_argument("--pseudo-conf", type=float, default=0.25)
    p.add_argument("--negatives-per-slide", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--allidb1-only",
        action="store_true",
        help="train = the ALL-IDB1 tiles alone (the single-source model of the comparison)",
    )
    p.add_argument("--out", default="runs/data/blood_fields_allidb1")
    p.add_argument("--overwrite", action="store_true")
    return p


def centred_window(cx: float, cy: float, tile: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A ``tile`` x ``tile`` window around ``(cx, cy)``, shifted to lie inside the image."""
    x0 = int(round(min(max(cx - tile / 2, 0), max(width - tile, 0))))
    y0 = int(round(min(max(cy - tile / 2, 0), max(height - tile, 0))))
    return x0, y0, min(x0 + tile, width), min(y0 + tile, height)


def pseudo_boxes(det, tile_img: np.ndarray, wbc: np.ndarray, conf: float) -> tuple[np.ndarray, list[str]]:
    """The teacher's RBC/platelet boxes on one tile that do not overlap an annotated leukocyte."""
    d = det.predict(tile_img, conf=conf, tile=0)
    if not len(d):
        return np.zeros((0, 4), np.float32), []
    names = np.asarray(d.data[CLASS_NAME])
    keep = np.isin(names, PSEUDO) & (np.asarray(d.confidence) >= conf)
    boxes = d.xyxy[keep].astype(np.float32)
    names = names[keep]
    if len(boxes) and len(wbc):
        clear = sv.box_iou_batch(boxes, wbc).max(axis=1) < 0.1
        boxes, names = boxes[clear], names[clear]
    return boxes, [str(n) for n in names]


def allidb1_tiles(
    folder: Path, det, *, tile: int, conf: float, negatives: int, seed: int
) -> tuple[list[DetImage], dict]:
    rng = np.random.default_rng(seed)
    items: list[DetImage] = []
    stats = {"slides": 0, "wbc": 0, "pseudo_rbc": 0, "pseudo_platelets": 0, "negative_tiles": 0}
    for rec in read_detection(folder, "train"):
        img = read_image(rec.path)
        h, w = img.shape[:2]
        stats["slides"] += 1
        boxes = np.asarray(rec.boxes, np.float32).reshape(-1, 4)
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
        for _ in range(negatives):
            centres.append((rng.uniform(0, w), rng.uniform(0, h)))
        seen: set[tuple[int, int, int, int]] = set()
        for i, (cx, cy) in enumerate(centres):
            win = centred_window(cx, cy, tile, w, h)
            if win in seen:  # two cells near one corner: one tile
                continue
            seen.add(win)
            wbc, _ = boxes_in_tile(boxes, ["WBC"] * len(boxes), win)
            x0, y0, x1, y1 = win
            crop = np.ascontiguousarray(img[y0:y1, x0:x1])
            pb, pn = pseudo_boxes(det, crop, wbc, conf)
            if i >= len(boxes):
                stats["negative_tiles"] += 1
            stats["wbc"] += len(wbc)
            stats["pseudo_rbc"] += pn.count("RBC")
            stats["pseudo_platelets"] += pn.count("Platelets")
            items.append(
                DetImage(
                    f"allidb1_{rec.path.stem}__x{x0}_y{y0}.jpg",
                    x1 - x0,
                    y1 - y0,
                    np.concatenate([wbc, pb]).reshape(-1, 4),
                    ["WBC"] * len(wbc) + pn,
                    array=crop,
                )
            )
    stats["tiles"] = len(items)
    return items, stats


def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    bf = Path(a.blood_fields)
    if read_names(bf) != NAMES:
        raise SystemExit(f"{bf}: expected classes {NAMES} (prepare it: leukoscan prepare-data blood_fields)")
    teacher_file = a.teacher if Path(a.teacher).exists() else bundled_file(a.teacher)
    teacher = detect.load(teacher_file, trust=True)
    tiles, stats = allidb1_tiles(
        resolve("all_idb1", data_root=a.data_root),
        teacher,
        tile=a.tile,
        conf=a.pseudo_conf,
        negatives=a.negatives_per_slide,
        seed=a.seed,
    )

    def recs(split: str) -> list[DetImage]:
        return [
            DetImage(r.path.name, r.width, r.height, np.asarray(r.boxes).reshape(-1, 4), list(r.labels), src=r.path)
            for r in read_detection(bf, split)
        ]

    splits = {
        "train": ([] if a.allidb1_only else recs("train")) + tiles,
        "val": recs("val"),
        "val_txl": recs("val_txl"),
    }
    out = Path(a.out)
    with staged_output(out, overwrite=a.overwrite) as stage:
        write_detection(stage, out.absolute(), splits, NAMES, progress=True)
        (stage / "report.json").write_text(
            json.dumps(
                {
                    "dataset": "blood_fields_allidb1 (local only: ALL-IDB research licence)",
                    "train": "ALL-IDB1 tiles only" if a.allidb1_only else "blood_fields train + ALL-IDB1 tiles",
                    "teacher": str(teacher_file),
                    "tile": a.tile,
                    "pseudo_conf": a.pseudo_conf,
                    "allidb1_dev_train": stats,
                    "counts": {k: len(v) for k, v in splits.items()},
                },
                indent=2,
            )
        )
    print(json.dumps(stats), f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
