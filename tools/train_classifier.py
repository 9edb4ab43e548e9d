"""Train (and cross-validate) a crop classifier: blast vs normal, or the cell type.

    leukoscan train-classifier --model handcrafted+svm --data all_idb2 --data-root ../shared/data
    leukoscan train-classifier --model resnet18 --imgsz 64 --epochs 15 --folds 5 --scratch
    leukoscan train-classifier --model cnn --data demo_cells --epochs 1 --imgsz 32 fit.lr=0.003
    leukoscan train-classifier --list-models
    leukoscan train-classifier --config configs/classify_types.yaml      # the cell-type stage

(``python tools/train_classifier.py ...`` is the same command.) Writes
runs/classify/<name>/ (config.yaml, metrics.json, predictions.csv, model.pt or model.skops).
--epochs/--batch are ignored (with a note) by scikit-learn models. Only the splits named by
--fit-splits (default train) are read for fitting; a test split is never read (it is
reported and left alone). With --folds >= 2 the metrics are k-fold CV inside those splits,
grouped by slide overlap group (split=random for a plain split), repeated over
fold_seeds=5 fold assignments (mean and range); with --folds 0 the fit splits are fitted
and score_split (default val) is scored. A seed recipe (--model rawat2017, ...) runs with
its own input size, steps and random-init features unless --imgsz / steps= / --pretrained
are given. Exit code 2 on a bad model name, config key or value, or missing data.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from leukoscan.classify.classical.recipes import RECIPES
from leukoscan.classify.registry import CLASSIFIERS
from leukoscan.classify.train import TrainConfig, run_training
from leukoscan.config import load_config, parse_overrides
from leukoscan.paths import CONFIGS_DIR
from leukoscan.tools.common import flag_overrides, print_grouped, training_parser, user_errors

DEFAULT_CONFIG = CONFIGS_DIR / "classify_allidb2_handcrafted_svm.yaml"
_FLAGS = ("model", "data", "data_root", "imgsz", "folds", "name")
_FIT_FLAGS = ("epochs", "batch", "device")


def get_args_parser() -> argparse.ArgumentParser:
    p = training_parser(
        __doc__,
        default_config=str(DEFAULT_CONFIG),
        model_help="classifier name",
        data_help="dataset name (all_idb2, demo_cells, ...) or prepared cells folder",
        runs="runs/classify",
        pretrained_help="ImageNet weights (default; offline -> one loud warning, scratch)",
        override_example="fit.lr=0.003 split=random",
    )
    p.add_argument("--folds", type=int, help="k for k-fold CV (default 5); < 2: use the index split")
    p.add_argument(
        "--fit-splits",
        dest="fit_splits",
        help="comma-separated splits to fit on (default train; never test), e.g. train,val",
    )
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    if a.list_models:
        print_grouped(model_groups())
        return 0
    over = parse_overrides(a.overrides)
    over.update(flag_overrides(a, _FLAGS))
    over.setdefault("fit", {}).update(flag_overrides(a, _FIT_FLAGS))
    if a.pretrained is not None:
        over["pretrained"] = a.pretrained
    if a.wandb:
        over["wandb"] = True
    if a.fit_splits:
        over["fit_splits"] = [x.strip() for x in a.fit_splits.split(",") if x.strip()]
    cfg = _recipe_settings(load_config(TrainConfig, a.config, over), load_config(TrainConfig, a.config, {}), over)
    kind = CLASSIFIERS.kind_of(cfg.model)  # an unknown name: ConfigError listing the valid ones
    if kind == "sklearn" and (a.epochs is not None or a.batch is not None):
        print(f"note: {cfg.model} is a scikit-learn model: --epochs/--batch are ignored")
    run_dir = run_training(cfg)
    _summary(run_dir)
    return 0


def _recipe_settings(cfg: TrainConfig, file_cfg: TrainConfig, over: dict) -> TrainConfig:
    """A seed recipe named on the command line is the recipe: the config file's input size,
    steps and pretrained flag (written for ``file_cfg.model``) are not carried over to it."""
    if cfg.model not in RECIPES or cfg.model == file_cfg.model:
        return cfg
    r = RECIPES[cfg.model]
    keep = {k: getattr(cfg, k) for k in ("imgsz", "steps", "pretrained") if k in over}
    cfg = replace(cfg, **{"imgsz": None, "steps": (), "pretrained": False, **keep})
    print(
        f"recipe {cfg.model}: input {cfg.imgsz or r.size} px, steps {list(cfg.steps) or 'none'}, "
        f"{'pretrained' if cfg.pretrained else 'random-init'} features (the recipe's own unless given on the "
        f"command line; the config file's are for {file_cfg.model})"
    )
    return cfg


def model_groups() -> dict[str, list[str]]:
    """Registered classifiers by family: CNNs, deep features + scikit-learn, classical systems by segmentation."""
    groups: dict[str, list[str]] = {
        "CNNs trained end to end (torch)": [],
        "deep features + scikit-learn classifier": [],
    }
    for name in CLASSIFIERS.list_names():
        family, kind = CLASSIFIERS.entry(name).meta.get("family"), CLASSIFIERS.kind_of(name)
        if family == "classical":
            seg = name.split("+")[0] if "+" in name else "named recipes (papers)"
            groups.setdefault(f"classical, segmentation {seg}" if "+" in name else f"classical, {seg}", []).append(name)
        else:
            groups[
                "CNNs trained end to end (torch)" if kind == "torch" else "deep features + scikit-learn classifier"
            ].append(name)
    return groups


def _summary(run_dir: Path) -> None:
    m = json.loads((run_dir / "metrics.json").read_text())
    score_split = m.get("score_split") or ""
    res = m.get("cv") or m.get(score_split)
    if res and "recall" in res:  # a multiclass (cell-type) report
        for split in [k for k in ("cv", score_split) if k and k in m] + [k for k in m if ":" in k]:
            r = m[split]
            acc = r["accuracy"]
            print(
                f"{split:22s} accuracy {acc['value']:.3f} [{acc['ci95'][0]:.3f}, {acc['ci95'][1]:.3f}] "
                f"balanced {r['balanced_accuracy'] or float('nan'):.3f} (n={r['n']})"
            )
    elif res:
        for k in ("balanced_accuracy", "sensitivity", "specificity", "auc"):
            v = res[k]
            ci = v["ci95"]
            val = "n/a" if v["value"] is None else f"{v['value']:.3f}"
            ci_s = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else ""
            spread = (res.get("repeats") or {}).get(k)
            sp = (
                f"  mean {spread['mean']:.3f} (range {spread['min']:.3f}-{spread['max']:.3f}) over "
                f"{len(res['repeats']['fold_seeds'])} fold seeds"
                if spread and spread["mean"] is not None
                else ""
            )
            print(f"{k:18s} {val}{ci_s}{sp}")
    if m.get("verdict"):
        print(f"verdict: {m['verdict']['text']}")
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
