"""Cross-validation splits: grouped stratified k-fold (no group on both sides) and plain random.

A *group* is the unit that must never be split between train and test (for ALL-IDB2:
the source slide, or the ALL-IDB1 overlap group of that slide, see
``leukoscan.classify.data.slide_groups``). An empty group string means "a group of its own".
"""

from __future__ import annotations

import numpy as np

from leukoscan.errors import ConfigError

Fold = tuple[np.ndarray, np.ndarray]  # (train indices, test indices)


def _group_ids(groups: list[str] | np.ndarray) -> np.ndarray:
    """Map group labels to ints; each empty label becomes its own singleton group."""
    ids: dict[str, int] = {}
    out = np.empty(len(groups), dtype=int)
    for i, g in enumerate(groups):
        key = str(g) if str(g) not in ("", "nan", "None") else f"__single_{i}"
        out[i] = ids.setdefault(key, len(ids))
    return out


def grouped_stratified_kfold(
    labels: np.ndarray, groups: list[str] | np.ndarray, k: int = 5, *, seed: int = 0
) -> list[Fold]:
    """``k`` folds, class-stratified as far as groups allow; each group in exactly one test fold.

    Raises ValueError when there are fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)
    gid = _group_ids(groups)
    if len(np.unique(gid)) < k:
        raise ConfigError(
            f"folds={k}: grouped {k}-fold CV needs >= {k} groups (slides), the data has {len(np.unique(gid))}"
        )
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(labels)), labels, gid)]
    check_grouping(folds, gid)
    return folds


def random_kfold(labels: np.ndarray, k: int = 5, *, seed: int = 0) -> list[Fold]:
    """Plain stratified k-fold over items, ignoring groups (leaky when items share a slide)."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    smallest = int(np.unique(labels, return_counts=True)[1].min()) if len(labels) else 0
    if smallest < k:
        raise ConfigError(
            f"folds={k}: stratified {k}-fold CV needs >= {k} items of each class, the smallest class has {smallest}"
        )
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(te)) for tr, te in splitter.split(np.zeros(len(labels)), labels)]


def random_split(n: int, test_fraction: float = 0.2, *, seed: int = 0, labels: np.ndarray | None = None) -> Fold:
    """One random train/test split of ``n`` items (stratified when ``labels`` is given)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels)
    return np.sort(tr), np.sort(te)


def make_folds(
    labels: np.ndarray, groups: list[str] | np.ndarray | None, k: int, *, split: str = "grouped", seed: int = 0
) -> list[Fold]:
    """``split`` = ``"grouped"`` (default) or ``"random"``."""
    if split == "grouped":
        if groups is None:
            raise ValueError("grouped CV needs groups; use split='random' for ungrouped data")
        return grouped_stratified_kfold(labels, groups, k, seed=seed)
    if split == "random":
        return random_kfold(labels, k, seed=seed)
    raise ValueError(f"unknown split {split!r}; valid: grouped, random")


def check_grouping(folds: list[Fold], gid: np.ndarray) -> None:
    """Raise AssertionError if any group appears in both train and test of a fold."""
    gid = np.asarray(gid)
    for i, (tr, te) in enumerate(folds):
        shared = set(gid[tr]) & set(gid[te])
        if shared:
            raise AssertionError(f"fold {i}: groups {sorted(shared)[:5]} on both sides")
