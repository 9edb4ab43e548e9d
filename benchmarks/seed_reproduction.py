"""Seed-reproduction table: the review's ALL-IDB systems, rerun under honest splits.

    nice -n 10 python benchmarks/seed_reproduction.py --data-root ../shared/data
    python benchmarks/seed_reproduction.py --data-root ../shared/data --recipes mishra2017,das2020 --no-slides \\
        --out benchmarks/results/seed_smoke

Writes ``<out>.json`` (after every row) and ``<out>.md``; default out:
``benchmarks/results/seed_reproduction``. One torch thread unless ``LEUKOSCAN_THREADS`` says
otherwise. See ``experiments/seed_table.py`` for what runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leukoscan.errors import ConfigError, MissingDatasetError
from leukoscan.tools.common import user_errors

ROOT = Path(__file__).resolve().parent.parent


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True, help="folder holding ALL_IDB/ (or the ALL_IDB folder)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "seed_reproduction"))
    p.add_argument("--recipes", help="comma-separated recipe names (default: every row)")
    p.add_argument("--no-slides", action="store_true", help="cells only (skip whole-slide classification)")
    p.add_argument("--cell-epochs", type=int, help="epochs of end-to-end deep recipes (default: recipe's)")
    p.add_argument("--slide-epochs", type=int, default=8)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--cache", help="folder to cache feature matrices (.npy) between runs")
    p.add_argument("--fold-seeds", type=int, default=5, help="fold assignments per CV scheme (mean and range)")
    p.add_argument("--test-split", help="fit on the dev splits (train+val), score this split once")
    p.add_argument(
        "--slide-models",
        help="comma-separated whole-slide models besides the recipes' (default: every one; '' for none)",
    )
    p.add_argument(
        "--backbones",
        default="",
        help="'pbc': deep recipes start from LeukoScan's bundled blood backbones, or a file pattern with "
        "{net} (runs/classify/pbc_{net}/backbone.pt) (default: random init)",
    )
    return p


@user_errors
def main(argv: list[str] | None = None) -> int:
    from leukoscan.classify.classical.recipes import RECIPES, SEED_ORDER
    from leukoscan.experiments.seed_table import SeedCfg, run_seed_table

    a = get_args_parser().parse_args(argv)
    recipes = tuple(r.strip() for r in a.recipes.split(",")) if a.recipes else SEED_ORDER
    bad = [r for r in recipes if r not in RECIPES]
    if bad:
        raise ConfigError(f"unknown recipe(s) {', '.join(bad)}; valid: {', '.join(RECIPES)}")
    if not Path(a.data_root).is_dir():
        raise MissingDatasetError(f"--data-root {a.data_root}: no such folder")
    extra = (
        {}
        if a.slide_models is None
        else {"slide_models": tuple(m.strip() for m in a.slide_models.split(",") if m.strip())}
    )
    cfg = SeedCfg(
        data_root=a.data_root,
        out=a.out,
        recipes=recipes,
        slides=not a.no_slides,
        n_boot=a.n_boot,
        cell_epochs=a.cell_epochs,
        slide_epochs=a.slide_epochs,
        cache=a.cache,
        fold_seeds=a.fold_seeds,
        test_split=a.test_split,
        backbones=a.backbones,
        **extra,
    )
    out = run_seed_table(cfg)
    print(f"wall {out['wall_seconds']} s; results: {cfg.out}.json / .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
