"""One leukocyte detector for any smear: per-source figures of a detector run.

    python benchmarks/universal_detector.py --weights runs/detect/blood_yolov8n --data-root ../shared/data \\
        --out benchmarks/results/universal_blood_yolov8n

Scores one detector on each source it may meet, with the one COCO evaluator (pycocotools):
- BCCD val (prepared ``bccd``): mAP50, WBC AP50;
- TXL-PBC val (``blood_fields`` split ``val_txl``: TXL-PBC val minus copies of any training
  image, found by content): mAP50, WBC AP50;
- ALL-IDB1 dev-val (prepared ``all_idb1`` split ``val``): leukocyte centroid recall at the
  pipeline's operating threshold (0.25) by camera (image size), where every annotated
  leukocyte (blast and normal) counts and any white-cell box may hit it; slides are tiled
  as ``leukoscan infer`` would (automatic tiling). ALL-IDB1 marks fewer leukocytes than
  some Olympus slides show, so precision there is not reported.
Writes ``<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

LEUKOCYTE_CLASSES = ("WBC", "leukocyte", "blast")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, help="detector run folder or weights file")
    p.add_argument("--data-root", required=True)
    p.add_argument("--blood-fields", default="runs/data/blood_fields", help="prepared blood_fields folder")
    p.add_argument("--conf", type=float, default=0.25, help="operating threshold for centroid recall")
    p.add_argument("--tile", type=int, help="ALL-IDB1 tile size (default: automatic, as infer)")
    p.add_argument("--skip", default="", help="comma-separated sources to skip (bccd,txl,all_idb1)")
    p.add_argument("--out", required=True)
    return p


def _coco(det, folder: Path, split: str) -> dict:
    from leukoscan.detect.evaluate import evaluate_detector

    m = evaluate_detector(det, folder, split, progress=False).to_dict()
    return {
        "map50": m.get("map50"),
        "map50_95": m.get("map50_95"),
        "per_class": m.get("per_class"),
        "n_images": m.get("n_images"),
    }


def _allidb1_leukocyte_recall(det, folder: Path, conf: float, tile: int | None = None) -> dict:
    """:func:`leukoscan.detect.evaluate.centroid_hits` with every annotated leukocyte (blast or
    not) as one class and every white-cell box as that class."""
    from leukoscan.detect.evaluate import centroid_hits
    from leukoscan.io import read_image
    from leukoscan.schema import CLASS_NAME

    cents = json.loads((folder / "centroids" / "val.json").read_text())
    points, preds, sizes = {}, {}, {}
    for file, per_cls in sorted(cents.items()):
        img = read_image(folder / "images" / "val" / file)
        d = det.predict(img, conf=conf, tile=tile)
        d = d[np.isin(np.asarray(d.data.get(CLASS_NAME, [])), LEUKOCYTE_CLASSES)] if len(d) else d
        if len(d):
            d.data[CLASS_NAME] = np.array(["leukocyte"] * len(d))
        points[file] = {"leukocyte": [p for c in per_cls.values() for p in c]}
        preds[file], sizes[file] = d, img.shape[:2]
    return centroid_hits(points, preds, sizes)["leukocyte"]


def main(argv: list[str] | None = None) -> int:
    from leukoscan import detect
    from leukoscan.data import resolve
    from leukoscan.device import set_cpu_threads

    a = get_args_parser().parse_args(argv)
    set_cpu_threads()
    skip = set(filter(None, a.skip.split(",")))
    det = detect.load(a.weights, trust=True)  # our own run
    out: dict = {
        "weights": a.weights,
        "all_idb1_tile": a.tile or "auto",
        "class_names": det.class_names,
        "imgsz": det.meta.imgsz,
        "machine": "2-core x86_64 CPU box, shared",
        "date": time.strftime("%Y-%m-%d"),
    }
    t0 = time.time()
    if "bccd" not in skip:
        out["bccd_val"] = _coco(det, resolve("bccd", data_root=a.data_root), "val")
        print("bccd val", out["bccd_val"]["map50"], flush=True)
    if "txl" not in skip and Path(a.blood_fields).is_dir():
        out["txl_val"] = _coco(det, Path(a.blood_fields), "val_txl")
        print("txl val", out["txl_val"]["map50"], flush=True)
    if "all_idb1" not in skip:
        out["all_idb1_devval_leukocyte_recall"] = _allidb1_leukocyte_recall(
            det, resolve("all_idb1", data_root=a.data_root), a.conf, a.tile
        )
        print(
            "all_idb1",
            {k: v for k, v in out["all_idb1_devval_leukocyte_recall"].items() if k != "by_image_size"},
            flush=True,
        )
    out["seconds"] = round(time.time() - t0, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).with_suffix(".json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
