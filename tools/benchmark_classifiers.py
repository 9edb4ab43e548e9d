"""Cross-validate the classifier zoo and write a metrics table with 95% CIs.

    leukoscan benchmark-classifiers --data-root ../shared/data     # configs/classify_benchmark.yaml
    leukoscan benchmark-classifiers --models handcrafted+svm,resnet18+svm --folds 5
    leukoscan benchmark-classifiers --data demo_cells --models cnn --epochs 1 --imgsz 32 --tag smoke
    leukoscan benchmark-classifiers --render benchmarks/results/classification_allidb2.json
    leukoscan benchmark-classifiers --recipes seed --slides --data-root ../shared/data  # seed table + whole slides
    leukoscan benchmark-classifiers --slides --data-root ../shared/data        # whole-slide rows only
    leukoscan benchmark-classifiers --recipes seed --test-split test --data-root DATA  # fit dev, score test once

(``python tools/benchmark_classifiers.py ...`` is the same command.) Writes
benchmarks/results/<tag>.json (updated after every model) and <tag>.md. Every CV figure is
given for fold seed 0 with its CI and as mean (range) over --fold-seeds fold assignments
(default 5). The zoo is cross-validated inside the train+val splits (said in the output); a
test split is never read, except by --test-split in the seed / whole-slide table, which fits
on train+val and scores that split once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leukoscan.classify.classical.recipes import RECIPES, SEED_ORDER
from leukoscan.config import load_config, parse_overrides
from leukoscan.errors import ConfigError
from leukoscan.experiments.classifier_benchmark import (
    BenchConfig,
    markdown_table,
    render,
    run_benchmark,
)
from leukoscan.experiments.seed_table import SLIDE_MODELS, SeedCfg, run_seed_table
from leukoscan.paths import CONFIGS_DIR
from leukoscan.tools.common import user_errors

DEFAULT_CONFIG = CONFIGS_DIR / "classify_benchmark.yaml"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--config", default=str(DEFAULT_CONFIG))
    p.add_argument("--data", help="dataset name or prepared cells folder")
    p.add_argument("--data-root", dest="data_root")
    p.add_argument("--models", help="comma-separated names (default: config, empty = whole zoo)")
    p.add_argument("--folds", type=int)
    p.add_argument("--imgsz", type=int)
    p.add_argument("--epochs", type=int, help="epochs of torch models (per_model entries win)")
    p.add_argument("--device")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pretrained", dest="pretrained", action="store_true", default=None)
    g.add_argument("--scratch", dest="pretrained", action="store_false")
    p.add_argument("--out", help="output folder (default benchmarks/results)")
    p.add_argument("--tag", help="output file stem")
    p.add_argument("--render", metavar="JSON", help="only re-write the markdown table of a results JSON")
    p.add_argument(
        "--recipes",
        metavar="seed|NAMES",
        help="run the seed-reproduction table instead (every "
        "recipe, or comma-separated recipe names); see benchmarks/seed_reproduction.py",
    )
    p.add_argument(
        "--slides",
        dest="slides",
        action="store_true",
        default=None,
        help="with --recipes: add the whole-slide rows (the default); alone: whole-slide rows only",
    )
    p.add_argument("--no-slides", dest="slides", action="store_false", help="with --recipes: cells only")
    p.add_argument(
        "--test-split", dest="test_split", help="seed / whole-slide table: fit on train+val, score this split once"
    )
    p.add_argument("--fold-seeds", dest="fold_seeds", type=int, help="fold assignments per CV figure (default 5)")
    p.add_argument("--cache", help="seed table: folder caching feature matrices between runs")
    p.add_argument(
        "--slide-models",
        dest="slide_models",
        help="comma-separated whole-slide models besides the "
        "recipes' (default: every one: " + ", ".join(SLIDE_MODELS) + ")",
    )
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. leakage_check=false")
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    if a.recipes or a.slides:
        return _seed(a)
    if a.test_split:
        raise ConfigError(
            "--test-split is for the seed / whole-slide table (--recipes / --slides); the zoo "
            "benchmark cross-validates inside train+val and never reads a test split"
        )
    if a.render:
        print(f"wrote {render(a.render)}")
        return 0
    over = parse_overrides(a.overrides)
    for k in ("data", "data_root", "folds", "imgsz", "pretrained", "out", "tag", "fold_seeds"):
        if getattr(a, k) is not None:
            over[k] = getattr(a, k)
    if a.models:
        over["models"] = [m.strip() for m in a.models.split(",") if m.strip()]
    fit = {k: getattr(a, k) for k in ("epochs", "device") if getattr(a, k) is not None}
    if fit:
        over.setdefault("fit", {}).update(fit)
    cfg = load_config(BenchConfig, a.config, over)
    out = run_benchmark(cfg)
    print(markdown_table(out))
    print(f"results: {Path(cfg.out) / cfg.tag}.json / .md")
    return 0


def _seed(a: argparse.Namespace) -> int:
    if not a.recipes:
        names: tuple[str, ...] = ()  # --slides alone: the whole-slide rows
    else:
        names = SEED_ORDER if a.recipes == "seed" else tuple(r.strip() for r in a.recipes.split(","))
    bad = [r for r in names if r not in RECIPES]
    if bad or not a.data_root:
        raise ConfigError(
            f"--recipes / --slides need --data-root; recipe names from: seed, {', '.join(RECIPES)}"
            + (f" (unknown: {', '.join(bad)})" if bad else "")
        )
    tag = a.tag or ("seed_reproduction" if names else "whole_slide")
    kw = {k: getattr(a, k) for k in ("fold_seeds", "test_split", "cache") if getattr(a, k) is not None}
    if a.slide_models is not None:
        kw["slide_models"] = tuple(m.strip() for m in a.slide_models.split(",") if m.strip())
        bad = [m for m in kw["slide_models"] if m not in SLIDE_MODELS]
        if bad:
            raise ConfigError(f"unknown slide model(s) {', '.join(bad)}; valid: {', '.join(SLIDE_MODELS)}")
    cfg = SeedCfg(
        data_root=a.data_root,
        out=f"{a.out or 'benchmarks/results'}/{tag}",
        recipes=names,
        slides=a.slides is not False,
        **kw,
    )
    res = run_seed_table(cfg)
    print(f"wall {res['wall_seconds']} s; results: {cfg.out}.json / .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
