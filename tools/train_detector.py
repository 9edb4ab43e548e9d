"""Train a leukocyte detector.

    leukoscan train-detector                       # YOLOv8n on BCCD (configs/detect_bccd_yolov8n.yaml),
                                                   # started from the bundled blood detector
    leukoscan train-detector --model fasterrcnn_mobilenet_v3_large_fpn --epochs 12
    leukoscan train-detector --data demo --epochs 1 --imgsz 64 augment.flipud=0.5
    leukoscan train-detector --resume [RUN_DIR]    # continue an interrupted run

(``python tools/train_detector.py ...`` is the same command.) Writes runs/detect/<name>/
(config.yaml, weights/best.pt, weights/last.pt, metrics.csv, metrics.json). Exit code 2 on
a bad model name, config key or value, or missing data; 130 when interrupted.
"""

from __future__ import annotations

import argparse

from leukoscan.config import load_config, parse_overrides
from leukoscan.detect.registry import DETECTORS
from leukoscan.detect.train import DetectTrainConfig, train
from leukoscan.paths import CONFIGS_DIR
from leukoscan.tools.common import (
    EXIT_INTERRUPTED,
    flag_overrides,
    interruptible,
    training_parser,
    user_errors,
)

DEFAULT_CONFIG = CONFIGS_DIR / "detect_bccd_yolov8n.yaml"
_FLAGS = ("model", "data", "data_root", "epochs", "imgsz", "batch", "device", "name")


def get_args_parser() -> argparse.ArgumentParser:
    p = training_parser(
        __doc__,
        default_config=str(DEFAULT_CONFIG),
        model_help="detector backend",
        data_help="dataset name (bccd, all_idb1, demo, ...) or folder",
        runs="runs/detect",
        pretrained_help="start from COCO weights (offline -> one loud warning, scratch); the default recipe "
        "starts YOLOv8n from the bundled blood detector (pretrained=auto)",
        override_example="augment.flipud=0.5",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN_DIR",
        help="continue from weights/last.pt of RUN_DIR (default: --name or newest run)",
    )
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    if a.list_models:
        print("\n".join(DETECTORS.list_names()))
        return 0
    over = {**parse_overrides(a.overrides), **flag_overrides(a, _FLAGS)}
    if a.pretrained is not None:
        over["pretrained"] = a.pretrained
    if a.wandb:
        over.setdefault("wandb", {})["enabled"] = True
    cfg = load_config(DetectTrainConfig, a.config, over)
    DETECTORS.entry(cfg.model)  # an unknown name: ConfigError listing the valid ones
    try:
        with interruptible():  # Ctrl-C, kill -INT or kill (TERM): stop, print the --resume command, exit 130
            run_dir = train(cfg, resume=a.resume)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
