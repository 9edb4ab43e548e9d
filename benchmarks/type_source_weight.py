"""Does weighting BCCD cells up help the type classifier on BCCD? (issue 24; answer: no)

    python benchmarks/type_source_weight.py --data-root ../shared/data --out benchmarks/results/type_source_weight

The type recipe (``configs/classify_types.yaml``: ``handcrafted+svm`` at 128 px on PBC train +
BCCD train) sees 2,799 PBC cells and 199 BCCD cells, so its boundary is PBC's. Here every
BCCD cell is weighted ``k`` times (SVM sample weights; C fixed at the value the recipe's grid
chooses on the whole training set) and each ``k`` is scored by stratified 3-fold CV *inside*
BCCD train, repeated over 5 fold seeds (mean, min, max; PBC train is in every fit). BCCD val
is not read for the choice. Features are cached in ``runs/cache/type_source_weight.npz``.
Writes ``<out>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from leukoscan.classify.data import resolve_cells
from leukoscan.classify.registry import build
from leukoscan.classify.repeats import fold_seed_list, spread


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True)
    p.add_argument("--weights", default="1,3,10,30", help="comma-separated k for BCCD cells")
    p.add_argument("--fold-seeds", type=int, default=5, help="CV repeated over this many fold assignments")
    p.add_argument("--cache", default="runs/cache/type_source_weight.npz")
    p.add_argument("--out", required=True)
    return p


def features(data_root: str, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Handcrafted features (128 px) of the train splits of PBC crops and BCCD types."""
    if cache.is_file():
        d = np.load(cache)
        return d["X"], d["y"], d["split"], d["src"]
    cells = resolve_cells("pbc_crops+bccd_types", data_root=data_root, splits=("train",))
    m = build("handcrafted+svm", num_classes=len(cells.class_names), class_names=cells.class_names, imgsz=128)
    X = m.extractor(cells.images)
    y, split, src = cells.labels, np.array(cells.splits), np.array(cells.meta["source"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, y=y, split=split, src=src)
    return X, y, split, src


def source_weight_cv(X, y, is_bccd, weights: list[float], C: float, folds: int = 3, fold_seed: int = 0) -> dict:
    """CV accuracy on BCCD train cells per weight k (the other source is in every fit)."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    b = np.where(is_bccd)[0]
    out = {}
    for k in weights:
        correct = 0
        for a, t in StratifiedKFold(folds, shuffle=True, random_state=fold_seed).split(b, y[b]):
            fit = ~is_bccd
            fit[b[a]] = True
            w = np.where(is_bccd[fit], k, 1.0)
            svc = make_pipeline(StandardScaler(), SVC(C=C, kernel="rbf", class_weight="balanced"))
            svc.fit(X[fit], y[fit], svc__sample_weight=w)
            correct += int((svc.predict(X[b[t]]) == y[b[t]]).sum())
        out[f"{k:g}"] = correct / len(b)
    return out


def main(argv: list[str] | None = None) -> int:
    a = get_args_parser().parse_args(argv)
    t0 = time.time()
    X, y, split, src = features(a.data_root, Path(a.cache))
    is_bccd = src == "bccd_types"
    recipe_head = build("handcrafted+svm", num_classes=int(y.max()) + 1, imgsz=128).estimator  # the recipe's SVM + grid
    C = float(recipe_head.fit(X, y)[-1].best_params_["estimator__C"])
    ks = [float(v) for v in a.weights.split(",")]
    seeds = fold_seed_list(0, a.fold_seeds)
    per_seed = [source_weight_cv(X, y, is_bccd, ks, C, fold_seed=s) for s in seeds]
    res = {
        "fit_splits": "train (PBC crops + BCCD types); scored: 3-fold CV inside BCCD train",
        "fold_seeds": seeds,
        "n": {"pbc": int((~is_bccd).sum()), "bccd": int(is_bccd.sum())},
        "C": C,
        "bccd_train_cv_accuracy_by_k": {
            k: spread([per[k] for per in per_seed]) for k in per_seed[0]
        },  # mean, min, max over the fold seeds
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(res, indent=1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).with_suffix(".json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
