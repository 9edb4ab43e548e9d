"""Which items a training command may fit on: the splits it is told, never ``test``.

Every training command (classifier training and CV, detector training, the whole-pipeline
fit, backbone pretraining, the benchmarks) decides what it fits on here, and every output
says it:

- a command fits on the splits it names (default ``("train",)``; ``val`` only where the
  command says so in its output);
- a split named :data:`HELD_OUT` (``test``) is never fitted, scored during selection or
  read: a data root that holds one is reported as such and left alone;
- items with no split are left out (counted) when other items have one; a dataset with
  no split column at all is fitted whole, and the output says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from leukoscan.errors import ConfigError

HELD_OUT = "test"
UNSPLIT = ""


def check_fit_splits(splits: Sequence[str], what: str = "fit splits") -> tuple[str, ...]:
    """``splits`` as a tuple; ConfigError when empty or when it names the held-out split."""
    splits = tuple(str(s).strip() for s in ([splits] if isinstance(splits, str) else splits))
    if not splits or any(not s for s in splits):
        raise ConfigError(f"{what}: name at least one split (e.g. train), got {list(splits)}")
    if HELD_OUT in splits:
        raise ConfigError(
            f"{what}: {list(splits)} names the {HELD_OUT!r} split; a training command never "
            f"fits on it (it is left alone for an independent evaluation)"
        )
    return splits


@dataclass(frozen=True)
class FitPlan:
    """Indices to fit on and what was left out, with a one-line description."""

    fit: np.ndarray  # (M,) indices into the items
    fit_splits: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)  # items per split (all of them, "" = no split)
    unsplit_whole: bool = False  # no item had a split: all were fitted

    @property
    def left_out(self) -> dict[str, int]:
        if self.unsplit_whole:
            return {}
        return {(s or "(no split)"): n for s, n in sorted(self.counts.items()) if s not in self.fit_splits}

    @property
    def held_out(self) -> int:
        return self.counts.get(HELD_OUT, 0)

    def describe(self) -> str:
        if self.unsplit_whole:
            return f"fitted on: all {len(self.fit)} items (the data have no split column; every item counts as train)"
        s = f"fitted on: split {'+'.join(self.fit_splits)} ({len(self.fit)} items)"
        if self.left_out:
            s += "; not fitted: " + ", ".join(f"{k} {v}" for k, v in self.left_out.items())
        if self.held_out:
            s += f" (the data hold a {HELD_OUT!r} split: left alone, never read)"
        return s

    def to_dict(self) -> dict:
        return {
            "fit_splits": ["(all: no split column)"] if self.unsplit_whole else list(self.fit_splits),
            "n_fit": int(len(self.fit)),
            "not_fitted": self.left_out,
            "held_out_split": {HELD_OUT: self.held_out} if self.held_out else {},
        }


def plan_fit(
    item_splits: Sequence[str], fit_splits: Sequence[str] = ("train",), *, all_counts: dict[str, int] | None = None
) -> FitPlan:
    """The items of ``fit_splits`` (see the module docstring for items with no split).

    ``all_counts``: items per split of the whole dataset when ``item_splits`` is a part of
    it (the items of other splits were never loaded); used for the report and to tell "no
    split column" from "some items have no split".
    """
    fit_splits = check_fit_splits(fit_splits)
    counts = dict(all_counts) if all_counts else dict(Counter(str(s or UNSPLIT) for s in item_splits))
    if set(counts) == {UNSPLIT}:
        return FitPlan(np.arange(len(item_splits)), fit_splits, counts, unsplit_whole=True)
    idx = np.array([i for i, s in enumerate(item_splits) if s in fit_splits], dtype=int)
    return FitPlan(idx, fit_splits, counts)


def score_split_ok(score: str | None, fit_splits: Sequence[str]) -> str | None:
    """A split to score on must not be one that was fitted (ConfigError)."""
    if score and score in fit_splits:
        raise ConfigError(f"score split {score!r} is also fitted ({'+'.join(fit_splits)}); pick another")
    return score


__all__ = ["HELD_OUT", "FitPlan", "check_fit_splits", "plan_fit", "score_split_ok"]
