"""Detection benchmark on BCCD val: our YOLOv8n recipe vs raw ultralytics vs Faster R-CNN.

Each contender trains from scratch on BCCD train and is scored on BCCD val by the same
COCO evaluator (leukoscan.detect.evaluate). One process per contender, so they can run one after
another or side by side (same load, fair seconds/epoch on a shared machine):

    python benchmarks/detection.py --which ours  --data-root /work/shared/data --epochs 25
    python benchmarks/detection.py --which raw   --data-root /work/shared/data --epochs 25
    python benchmarks/detection.py --which frcnn --data-root /work/shared/data --epochs 4
    python benchmarks/detection.py --which report

- ours:  the tools/train_detector.py recipe, YOLOv8n from scratch; ``--preset microscopy``
         adds vertical flips and 90-degree rotations (the augmentation ablation; result
         files then carry ``_microscopy``).
- raw:   the ``yolo train`` CLI, model=yolov8n.yaml, same epochs/imgsz/batch/seed,
         ultralytics' default augmentation.
- allidb: tiled YOLOv8n on the ALL-IDB1 dev split (``--preset`` as for ours).
- frcnn: fasterrcnn_mobilenet_v3_large_fpn from scratch, plain torchvision loop.
Seconds per epoch come from ultralytics' results.csv (train + val of that epoch) for
both YOLO runs and from metrics.csv for Faster R-CNN. Threads: both YOLO runs use one
torch thread (ultralytics' own choice on a 2-core box; ours set by --threads 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _epoch_seconds_from_results_csv(path: Path) -> list[float]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    t = [float(r["time"]) for r in rows]
    return [b - a for a, b in zip([0.0] + t[:-1], t, strict=True)]


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        return "unknown"


def _sfx(a: argparse.Namespace) -> str:
    return f"_seed{a.seed}" if a.seed else ""


def _preset_sfx(a: argparse.Namespace) -> str:
    return "" if a.preset == "none" else f"_{a.preset}"


def _common(a: argparse.Namespace) -> dict:
    return {
        "dataset": "bccd",
        "train_split": "train",
        "eval_split": "val",
        "epochs": a.epochs,
        "imgsz": a.imgsz,
        "batch": a.batch,
        "threads": a.threads,
        "seed": a.seed,
        "commit": _commit(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }  # call before the run


def run_ours(a: argparse.Namespace) -> dict:
    from leukoscan.detect.augment import AugmentConfig
    from leukoscan.detect.train import DetectTrainConfig, train

    cfg = DetectTrainConfig(
        model="yolov8n",
        data="bccd",
        data_root=a.data_root,
        epochs=a.epochs,
        imgsz=a.imgsz,
        batch=a.batch,
        device="cpu",
        pretrained=False,
        threads=a.threads,
        seed=a.seed,
        augment=AugmentConfig(preset=a.preset),
        project=a.project,
        name=f"bench_ours{_preset_sfx(a)}_e{a.epochs}{_sfx(a)}",
    )
    run = train(cfg, progress=False)
    m = json.loads((run / "metrics.json").read_text())
    secs = _epoch_seconds_from_results_csv(run / "results.csv")
    return {
        "contender": f"ours_yolov8n{_preset_sfx(a)}",
        "augment_preset": a.preset,
        "run_dir": str(run),
        "seconds_per_epoch": sum(secs) / len(secs),
        "epoch_seconds": secs,
        "metrics": m,
    }


def run_raw(a: argparse.Namespace) -> dict:
    from leukoscan.data import resolve
    from leukoscan.detect.evaluate import evaluate_detector
    from leukoscan.detect.registry import load

    data_dir = resolve("bccd", data_root=a.data_root).absolute()
    name = f"bench_raw_e{a.epochs}{_sfx(a)}"
    yolo = Path(sys.executable).with_name("yolo")
    cmd = [
        str(yolo),
        "train",
        "model=yolov8n.yaml",
        f"data={data_dir / 'data.yaml'}",
        f"epochs={a.epochs}",
        f"imgsz={a.imgsz}",
        f"batch={a.batch}",
        "device=cpu",
        "workers=0",
        f"seed={a.seed}",
        "pretrained=False",
        f"project={Path(a.project).absolute()}",
        f"name={name}",
        "exist_ok=True",
    ]
    print(" ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True)
    wall = time.time() - t0
    run = Path(a.project).absolute() / name
    det = load(run / "weights" / "best.pt")
    m = evaluate_detector(det, data_dir, "val", conf=0.001, progress=False).to_dict()
    secs = _epoch_seconds_from_results_csv(run / "results.csv")
    return {
        "contender": "raw_ultralytics_yolov8n",
        "run_dir": str(run),
        "command": " ".join(cmd),
        "wall_seconds": wall,
        "seconds_per_epoch": sum(secs) / len(secs),
        "epoch_seconds": secs,
        "metrics": m,
    }


def run_frcnn(a: argparse.Namespace) -> dict:
    from leukoscan.detect.augment import AugmentConfig
    from leukoscan.detect.train import DetectTrainConfig, train

    # flips and rotations as in configs/detect_bccd_frcnn_mobilenet.yaml (not ablated for Faster R-CNN)
    cfg = DetectTrainConfig(
        model="fasterrcnn_mobilenet_v3_large_fpn",
        data="bccd",
        data_root=a.data_root,
        augment=AugmentConfig(preset="microscopy"),
        epochs=a.epochs,
        imgsz=a.frcnn_imgsz,
        batch=4,
        device="cpu",
        pretrained=False,
        threads=a.threads,
        lr=0.01,
        project=a.project,
        name=f"bench_frcnn_e{a.epochs}",
    )
    run = train(cfg, progress=False)
    m = json.loads((run / "metrics.json").read_text())
    with open(run / "metrics.csv", newline="") as f:
        secs = [float(r["epoch_time_s"]) for r in csv.DictReader(f)]
    return {
        "contender": "frcnn_mobilenet_v3_large_fpn",
        "run_dir": str(run),
        "imgsz": a.frcnn_imgsz,
        "seconds_per_epoch": sum(secs) / len(secs),
        "epoch_seconds": secs,
        "metrics": m,
    }


def run_allidb(a: argparse.Namespace) -> dict:
    """ALL-IDB1 dev split: tiled YOLOv8n training on dev-train, sliced inference on dev-val."""
    from leukoscan.detect.augment import AugmentConfig
    from leukoscan.detect.train import DetectTrainConfig, TileConfig, train

    cfg = DetectTrainConfig(
        model="yolov8n",
        data="all_idb1",
        data_root=a.data_root,
        epochs=a.epochs,
        imgsz=a.imgsz,
        batch=a.batch,
        device="cpu",
        pretrained=False,
        threads=a.threads,
        seed=a.seed,
        project=a.project,
        name=f"bench_allidb1_e{a.epochs}{_preset_sfx(a)}{_sfx(a)}",
        val=False,
        augment=AugmentConfig(preset=a.preset),
        tile=TileConfig(enabled="on", size=a.tile, overlap=a.tile // 5),
    )
    run = train(cfg, resume=a.resume or False, progress=False)
    m = json.loads((run / "metrics.json").read_text())
    with open(run / "metrics.csv", newline="") as f:
        secs = [float(r["epoch_time_s"]) for r in csv.DictReader(f)]
    return {
        "contender": f"yolov8n_allidb1_tiled_{a.preset}_aug",
        "dataset": "all_idb1",
        "tile": a.tile,
        "augment_preset": a.preset,
        "run_dir": str(run),
        "seconds_per_epoch": sum(secs) / len(secs),
        "epoch_seconds": secs,
        "metrics": m,
    }


def run_orient(a: argparse.Namespace) -> dict:
    """BCCD val under the 8 rotations/mirrorings for each run in --runs (inference only)."""
    from leukoscan.data import resolve
    from leukoscan.detect.evaluate import evaluate_orientations
    from leukoscan.detect.registry import load
    from leukoscan.device import set_cpu_threads

    data_dir = resolve("bccd", data_root=a.data_root)
    out: dict = {"contender": None, "runs": {}}
    for run in a.runs:
        det = load(run)
        det.threads = set_cpu_threads(a.threads)
        res = evaluate_orientations(det, data_dir, "val", conf=0.001, progress=False)
        m50 = [m.map50 for m in res.values()]
        out["runs"][run] = {
            "map50_mean": float(np.mean(m50)),
            "map50_min": min(m50),
            "map50_max": max(m50),
            "map50_95_mean": float(np.mean([m.map50_95 for m in res.values()])),
            "per_orientation": {k: m.to_dict() for k, m in res.items()},
        }
        print(run, {k: round(m.map50, 4) for k, m in res.items()}, flush=True)
    return out


def _row(r: dict) -> str:
    m = r["metrics"]
    pc = m["per_class"]
    ap = " | ".join(f"{(pc[c]['ap50'] or 0):.3f}" for c in ("WBC", "RBC", "Platelets"))
    return (
        f"| {r['contender']} | {r.get('seed', 0)} | {r['epochs']} | {r['imgsz']} | {m['map50']:.3f} | "
        f"{m['map50_95']:.3f} | {ap} | "
        f"{r['seconds_per_epoch']:.1f} |"
    )


def _side_by_side(r1: dict, r2: dict, max_gap_s: float = 600) -> bool:
    """Seconds per epoch are only comparable for runs started together (same machine load)."""
    from datetime import datetime

    key = "started" if "started" in r1 and "started" in r2 else "finished"  # session-1 files lack "started"
    t1, t2 = (datetime.fromisoformat(r[key]) for r in (r1, r2))
    return abs((t1 - t2).total_seconds()) <= max_gap_s


def report(a: argparse.Namespace) -> str:
    rs = {
        p.stem.replace("detection_bccd_", ""): json.loads(p.read_text())
        for p in sorted(RESULTS.glob("detection_bccd_*.json"))
    }
    rs = {k: r for k, r in rs.items() if "contender" in r}  # e.g. main-job evaluations are not contenders
    lines = [
        "| contender | seed | epochs | imgsz | mAP50 | mAP50-95 | AP50 WBC | AP50 RBC | AP50 Platelets | s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ] + [_row(r) for r in rs.values()]
    for key, r in rs.items():  # pairs run side by side: ours[_<preset>]_e<N>[_seed<S>] with raw_e<N>[_seed<S>]
        m = re.fullmatch(r"ours(?:_[a-z]+)?_(e\d+.*)", key)
        raw = rs.get(f"raw_{m.group(1)}") if m else None
        if raw and _side_by_side(r, raw):
            ratio = r["seconds_per_epoch"] / raw["seconds_per_epoch"]
            lines.append(f"\n{r['contender']} ({m.group(1)}): seconds/epoch ours / raw ultralytics = {ratio:.3f}")
    text = "\n".join(lines) + "\n"
    (RESULTS / "detection_bccd_table.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--which", choices=["ours", "raw", "frcnn", "allidb", "orient", "report"], required=True)
    p.add_argument("--runs", nargs="+", default=[], help="--which orient: run folders to score under 8 orientations")
    p.add_argument("--tile", type=int, default=1024, help="ALL-IDB1 tile side in slide pixels")
    p.add_argument(
        "--preset",
        choices=["none", "microscopy", "ultralytics", "noaug"],
        default="none",
        help="--which ours/allidb: augmentation preset (none = the default recipe; microscopy = + vertical "
        "flips and 90-degree rotations; ultralytics = stock geometry; noaug = no augmentation)",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--imgsz", type=int, default=416)
    p.add_argument("--frcnn-imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", default=None, help="--which allidb: finish this stopped run folder (its own config)")
    p.add_argument("--project", default="runs/bench")
    a = p.parse_args(argv)
    if a.which == "report":
        print(report(a))
        return 0
    common = _common(a)
    res = {"ours": run_ours, "raw": run_raw, "frcnn": run_frcnn, "allidb": run_allidb, "orient": run_orient}[a.which](a)
    out = {**common, **res, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    name = {
        "allidb": f"all_idb1_e{a.epochs}{_preset_sfx(a)}{_sfx(a)}",
        "orient": f"orientations_e{a.epochs}{_sfx(a)}",
    }.get(a.which, f"bccd_{a.which}{_preset_sfx(a) if a.which == 'ours' else ''}_e{a.epochs}{_sfx(a)}")
    if a.which == "frcnn":
        out["imgsz"], out["batch"] = a.frcnn_imgsz, 4
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"detection_{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "epoch_seconds"}, indent=2)[:3000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
