"""Train a leukocyte detector.

    python tools/train_detector.py                       # YOLOv8n on BCCD (configs/detect_bccd_yolov8n.yaml)
    python tools/train_detector.py --model fasterrcnn_mobilenet_v3_large_fpn --epochs 12
    python tools/train_detector.py --data demo --epochs 1 --imgsz 64 augment.flipud=0.5
    python tools/train_detector.py --resume [RUN_DIR]    # continue an interrupted run

Writes runs/detect/<name>/ (config.yaml, weights/best.pt, weights/last.pt, metrics.csv,
metrics.json). Exit code 2 on a bad model name or config key.
"""

from __future__ import annotations

import argparse
import sys

from leukoscan.paths import CONFIGS_DIR

DEFAULT_CONFIG = CONFIGS_DIR / "detect_bccd_yolov8n.yaml"
_FLAGS = ("model", "data", "data_root", "epochs", "imgsz", "batch", "device", "name")


def get_args_parser() -> argparse.ArgumentParser:
    from leukoscan.cli import training_parser

    p = training_parser(__doc__, default_config=str(DEFAULT_CONFIG), model_help="detector backend",
                        data_help="dataset name (bccd, all_idb1, demo, ...) or folder", runs="runs/detect",
                        pretrained_help="start from pretrained COCO weights", override_example="augment.flipud=0.5")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                   help="continue from weights/last.pt of RUN_DIR (default: --name or newest run)")
    return p


def main(argv: list[str] | None = None) -> int:
    from leukoscan.cli import flag_overrides, interruptible
    from leukoscan.config import ConfigError, load_config, parse_overrides
    from leukoscan.detect.registry import DETECTORS
    from leukoscan.detect.train import DetectTrainConfig, train

    a = get_args_parser().parse_args(argv)
    if a.list_models:
        print("\n".join(DETECTORS.list_names()))
        return 0
    try:
        over = {**parse_overrides(a.overrides), **flag_overrides(a, _FLAGS)}
        if a.pretrained is not None:
            over["pretrained"] = a.pretrained
        if a.wandb:
            over.setdefault("wandb", {})["enabled"] = True
        cfg = load_config(DetectTrainConfig, a.config, over)
        if cfg.model not in DETECTORS:
            DETECTORS.get(cfg.model)  # raises ValueError listing the valid names
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from leukoscan.data.errors import DataError

    try:
        with interruptible():  # Ctrl-C, kill -INT or kill (TERM): stop, print the --resume command, exit 130
            run_dir = train(cfg, resume=a.resume)
    except (DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
