"""Train (and cross-validate) a blast-vs-normal crop classifier.

    leukoscan train-classifier --model handcrafted+svm --data all_idb2 --data-root ../shared/data
    leukoscan train-classifier --model resnet18 --imgsz 64 --epochs 15 --folds 5 --scratch
    leukoscan train-classifier --model cnn --data demo_cells --epochs 1 --imgsz 32 fit.lr=0.003
    leukoscan train-classifier --list-models

(``python tools/train_classifier.py ...`` is the same command.) Writes
runs/classify/<name>/ (config.yaml, metrics.json, predictions.csv, model.pt or model.skops).
--epochs/--batch are ignored (with a note) by scikit-learn models. With --folds >= 2 the
metrics are k-fold CV grouped by slide overlap group (split=random for a plain split);
with --folds 0 the index's train split is fitted and val/test evaluated. Exit code 2 on a
bad model name, config key or value, or missing data.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leukoscan.classify.registry import CLASSIFIERS
from leukoscan.classify.train import TrainConfig, run_training
from leukoscan.config import load_config, parse_overrides
from leukoscan.paths import CONFIGS_DIR
from leukoscan.tools.common import flag_overrides, training_parser, user_errors

DEFAULT_CONFIG = CONFIGS_DIR / "classify_allidb2_handcrafted_svm.yaml"
_FLAGS = ("model", "data", "data_root", "imgsz", "folds", "name")
_FIT_FLAGS = ("epochs", "batch", "device")


def get_args_parser() -> argparse.ArgumentParser:
    p = training_parser(__doc__, default_config=str(DEFAULT_CONFIG), model_help="classifier name",
                        data_help="dataset name (all_idb2, demo_cells, ...) or prepared cells folder",
                        runs="runs/classify", pretrained_help="ImageNet weights",
                        override_example="fit.lr=0.003 split=random")
    p.add_argument("--folds", type=int, help="k for k-fold CV (default 5); < 2: use the index split")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    if a.list_models:
        print("\n".join(CLASSIFIERS.list_names()))
        return 0
    over = parse_overrides(a.overrides)
    over.update(flag_overrides(a, _FLAGS))
    over.setdefault("fit", {}).update(flag_overrides(a, _FIT_FLAGS))
    if a.pretrained is not None:
        over["pretrained"] = a.pretrained
    if a.wandb:
        over["wandb"] = True
    cfg = load_config(TrainConfig, a.config, over)
    kind = CLASSIFIERS.kind_of(cfg.model)  # an unknown name: ConfigError listing the valid ones
    if kind == "sklearn" and (a.epochs is not None or a.batch is not None):
        print(f"note: {cfg.model} is a scikit-learn model: --epochs/--batch are ignored")
    run_dir = run_training(cfg)
    _summary(run_dir)
    return 0


def _summary(run_dir: Path) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    res = m.get("cv") or m.get("val") or m.get("test")
    if res:
        for k in ("balanced_accuracy", "sensitivity", "specificity", "auc"):
            v = res[k]
            ci = v["ci95"]
            val = "n/a" if v["value"] is None else f"{v['value']:.3f}"
            ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else ""
            print(f"{k:18s} {val}{ci_s}")
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
