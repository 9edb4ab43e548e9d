"""Run the seed-reproduction table (cells + whole slides) and write JSON + markdown.

Entry point: :func:`run_seed_table` (used by ``benchmarks/seed_reproduction.py`` and
``tools/benchmark_classifiers.py --recipes seed``). See :mod:`.reproduce` for the schemes.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.classify.classical.classifiers import build_estimator
from leukoscan.classify.classical.recipes import RECIPES, SEED_ORDER
from leukoscan.classify.models import blood_backbone
from leukoscan.errors import ConfigError, MissingModelError
from leukoscan.experiments import whole_image as wi
from leukoscan.experiments.reproduce import (
    DEV_SPLITS,
    Items,
    cached,
    dev_and_test,
    load_cells,
    read_splits,
    run_row,
    sklearn_fit_predict,
    torch_fit_predict,
)
from leukoscan.experiments.seed_report import write_markdown
from leukoscan.io import atomic_write_json
from leukoscan.machine import machine_info
from leukoscan.synthetic import make_cell_crop

# Whole-slide models besides the recipes: name -> (features, classifier, note)
SLIDE_MODELS = {
    "camera_only": ("camera", "dt", "decision tree on (width, height, EXIF make is Canon); sees no pixel"),
    "global+svm": ("global", "svm", "Tables 5-6 'SVM': GLCM + LBP + first-order + colour of the whole slide"),
    "global+rf": ("global", "rf", "Tables 5-6 'RF': the same features, random forest"),
    "mobilenet_v2+svm": ("deep:mobilenet_v2", "svm", "MobileNetV2 random-init pooled features, 112 px"),
    "mobilenet_v2": ("torch:mobilenet_v2", "", "Tables 5-6 MobileNetV2: trained from scratch, 112 px, 8 epochs"),
}


@dataclass(frozen=True)
class SeedCfg:
    data_root: str
    out: str = "benchmarks/results/seed_reproduction"
    recipes: tuple[str, ...] = SEED_ORDER
    slides: bool = True
    seed: int = 0
    n_boot: int = 1000
    cell_epochs: int | None = None  # override the deep recipe's epochs
    slide_epochs: int = 8
    slide_size: int = 112
    slide_models: tuple[str, ...] = tuple(SLIDE_MODELS)  # besides the recipes' slide rows
    cache: str | None = None
    fold_seeds: int = 5  # every CV scheme repeated over this many fold assignments
    test_split: str | None = None  # fit on the dev splits, score this split once (the "test" scheme)
    # deep recipes' starting weights (features and fine-tuned): "" = random init (the table's rows);
    # "pbc" = LeukoScan's bundled blood backbones, or a file pattern with {net}
    # (runs/classify/pbc_{net}/backbone.pt); recipes whose network has none are left out, and said so
    backbones: str = ""


def _rows_kw(items: Items, cfg: SeedCfg) -> dict:
    dev, test = dev_and_test(items, cfg.test_split)
    return {"fold_seeds": cfg.fold_seeds, "dev": dev, "test": test}


def _has_backbone(r, backbones: str) -> bool:
    """Whether a deep recipe has a ``backbones`` ("pbc" or a ``{net}`` pattern) file for its network."""

    if r.kind not in ("deep_features", "deep"):
        return False
    try:
        return blood_backbone(backbones, r.backbone).is_file()
    except MissingModelError:
        return False


def _key(backbones: str) -> str:
    """A cache-key part naming the backbones (a path pattern made file-name safe)."""
    return "".join(c if c.isalnum() else "_" for c in backbones)


def _cell_row(name: str, cells: Items, cfg: SeedCfg, cache: Path | None, log) -> dict:
    r = RECIPES[name]
    t0 = time.time()
    kw = _rows_kw(cells, cfg)
    if r.kind == "deep":
        epochs = cfg.cell_epochs or r.epochs
        fp = torch_fit_predict(cells, r.backbone, r.size, epochs, cfg.seed, pretrained=cfg.backbones or False)
        res = run_row(cells, fp, cfg.n_boot, cfg.seed, **kw)
        feat_s = 0.0
    else:
        pre = cfg.backbones if r.kind == "deep_features" and cfg.backbones else False
        key = f"cells_{name}_n{len(cells)}" + (f"_{_key(cfg.backbones)}" if pre else "")
        X, feat_s = cached(cache, key, lambda: r.extractor(seed=cfg.seed, pretrained=pre)(cells.images))
        res = run_row(
            cells, sklearn_fit_predict(X, cells.labels, lambda: r.estimator(cfg.seed)), cfg.n_boot, cfg.seed, **kw
        )
    log(
        f"cells {name:14s} "
        + "  ".join(f"{k} acc {v['accuracy']['value']:.3f}" for k, v in res.items())
        + f"  {time.time() - t0:.0f}s"
    )
    return {
        "recipe": r.to_dict(),
        "schemes": res,
        "feature_seconds": round(feat_s, 1),
        "seconds": round(time.time() - t0, 1),
    }


def _slide_features(kind: str, slides, cfg: SeedCfg) -> np.ndarray:
    if kind == "camera":
        return wi.camera_features(slides)
    if kind == "global":
        return wi.global_features(slides)
    if kind.startswith("deep:"):
        return wi.deep_features(slides, kind[5:], cfg.slide_size, cfg.seed)
    r = RECIPES[kind]
    if r.kind == "deep_features":
        return wi.deep_features(slides, r.backbone, cfg.slide_size, cfg.seed)
    return wi.nucleus_patch_features(slides, r, seed=cfg.seed)


def _slide_row(name: str, kind: str, clf: str, slides, items: Items, cfg: SeedCfg, cache, log) -> dict:
    t0 = time.time()
    if kind.startswith("torch:"):
        fp = torch_fit_predict(items, kind[6:], cfg.slide_size, cfg.slide_epochs, cfg.seed)
        feat_s = 0.0
    else:
        X, feat_s = cached(cache, f"slides_{kind}_n{len(items)}", lambda: _slide_features(kind, slides, cfg))
        fp = sklearn_fit_predict(X, items.labels, lambda: build_estimator(clf, cfg.seed))
    res = run_row(items, fp, cfg.n_boot, cfg.seed, **_rows_kw(items, cfg))
    log(
        f"slides {name:16s} "
        + "  ".join(f"{k} acc {v['accuracy']['value']:.3f}" for k, v in res.items())
        + f"  {time.time() - t0:.0f}s"
    )
    return {
        "features": kind,
        "classifier": clf,
        "schemes": res,
        "feature_seconds": round(feat_s, 1),
        "seconds": round(time.time() - t0, 1),
    }


def _read_splits(cfg: SeedCfg) -> tuple[str, ...]:
    """The splits read: the dev splits, plus ``test_split`` when asked (never otherwise)."""
    if cfg.test_split in DEV_SPLITS:
        raise ConfigError(f"test_split {cfg.test_split!r} is a dev split (fitted); name a held-out split")
    return DEV_SPLITS + ((cfg.test_split,) if cfg.test_split else ())


def _slide_split_counts(root: Path) -> dict[str, int]:
    split = read_splits(root)
    return dict(Counter(split.get(p.stem, "") for p in sorted((root / "ALL_IDB1" / "im").glob("*.jpg"))))


def _counts(items: Items, cfg: SeedCfg) -> dict:
    """n, positives, Canon, groups of the dev items, and which splits were fitted / scored / left alone."""
    dev, test = dev_and_test(items, cfg.test_split)
    counts = items.split_counts or {}
    have_file = any(counts) and set(counts) != {""}
    left = {
        (k or "(no split)"): v
        for k, v in sorted(counts.items())
        if have_file and k not in DEV_SPLITS and k != cfg.test_split
    }
    say = (
        f"cross-validated on split {'+'.join(DEV_SPLITS)} ({len(dev)} items)"
        if have_file
        else f"cross-validated on all {len(dev)} items (no split file)"
    )
    if len(test):
        say += f"; split {cfg.test_split} ({len(test)} items) scored once by a model fitted on every dev item"
    if left:
        say += "; not read: " + ", ".join(f"{k} {v}" for k, v in left.items())
    return {
        "n": len(dev),
        "positive": int(items.labels[dev].sum()),
        "canon": int(sum(items.cameras[i].lower() == "canon" for i in dev)),
        "groups": len({items.groups[i] for i in dev}),
        "test_n": int(len(test)),
        "not_read": left,
        "splits": say,
        "fold_seeds": cfg.fold_seeds,
    }


def _pipeline_reference(results_dir: Path) -> dict:
    """Slide calls of the two-stage pipeline on dev-val, from its existing result file (if any)."""
    import json

    path = results_dir / "pipeline_allidb1_devval.json"
    if not path.is_file():
        return {}
    d = json.loads(path.read_text())
    keys = ("slides", "all_slides", "healthy_slides", "slide_sensitivity", "slide_specificity")
    return {
        "file": path.name,
        "split": d.get("split"),
        "overall": {k: d["overall"][k] for k in keys if k in d.get("overall", {})},
        "by_image_size": {size: {k: v[k] for k in keys if k in v} for size, v in d.get("by_image_size", {}).items()},
    }


def run_seed_table(cfg: SeedCfg, log=print) -> dict:
    """Run every row; writes ``<cfg.out>.json`` after each row and ``.md`` at the end."""
    import torch

    torch.set_num_threads(int(os.environ.get("LEUKOSCAN_THREADS", "1")))
    t_start = time.time()
    root = Path(cfg.data_root) / "ALL_IDB" if (Path(cfg.data_root) / "ALL_IDB").is_dir() else Path(cfg.data_root)
    cache = Path(cfg.cache) if cfg.cache else None
    out: dict[str, Any] = {
        "config": cfg.__dict__ | {"recipes": list(cfg.recipes), "slide_models": list(cfg.slide_models)},
        "machine": machine_info(),
        "started": time.strftime("%F %T %Z"),
        "cells": {},
        "slides": {},
    }
    json_path = Path(f"{cfg.out}.json")
    read = _read_splits(cfg)
    cells = load_cells(root, read) if cfg.recipes else None
    if cells is not None:
        out["cells_n"] = _counts(cells, cfg)
        log(f"cells: {out['cells_n']['splits']}")
    for name in cfg.recipes:
        if cfg.backbones and not _has_backbone(RECIPES[name], cfg.backbones):
            log(f"cells {name:14s} left out: no {cfg.backbones} backbone of {RECIPES[name].backbone or 'a network'}")
            continue
        out["cells"][name] = _cell_row(name, cells, cfg, cache, log)
        atomic_write_json(json_path, out)
    if cfg.slides:
        slides = wi.load_slides(root, read=read)
        items = Items(
            slides.images,
            slides.labels,
            slides.groups,
            slides.cameras,
            slides.dev_split,
            splits=list(slides.dev_split),
            split_counts=_slide_split_counts(root),
        )
        out["slides_n"] = _counts(items, cfg)
        log(f"slides: {out['slides_n']['splits']}")
        rows = [(m, k, c) for m, (k, c, _) in SLIDE_MODELS.items() if m in cfg.slide_models]
        rows += [(f"{n} (slides)", n, RECIPES[n].classifier) for n in cfg.recipes if RECIPES[n].slides]
        for name, kind, clf in rows:
            out["slides"][name] = _slide_row(name, kind, clf, slides, items, cfg, cache, log)
            atomic_write_json(json_path, out)
        out["pipeline_reference"] = _pipeline_reference(json_path.parent)
    out["finished"] = time.strftime("%F %T %Z")
    out["wall_seconds"] = round(time.time() - t_start, 1)
    atomic_write_json(json_path, out)
    write_markdown(out, Path(f"{cfg.out}.md"))
    return out


def smoke_items(n: int = 24, seed: int = 0) -> Items:
    """Synthetic cells with groups and two cameras (for tests of the runner)."""
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n)])
    imgs = [make_cell_crop(48, blast=bool(y), seed=int(rng.integers(1 << 30))) for y in labels]
    return Items(imgs, labels, [f"g{i // 2}" for i in range(n)], ["Canon" if i % 3 else "OLYMPUS" for i in range(n)])
