"""Training-record pictures shared by both stages (matplotlib, Agg backend, PNG files).

- :func:`plot_curves`: per-epoch columns of a metrics CSV (losses, lr, metrics) against epoch;
- :func:`plot_pr`: precision-recall curves, one per class;
- :func:`plot_confusion`: a confusion matrix (rows = truth, columns = prediction), counts;
- :func:`image_grid`: RGB tiles side by side / in rows, with a caption above each.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leukoscan.io import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_curves(csv_path: Path, out: Path, *, x: str = "epoch") -> Path | None:
    """One panel for loss columns, one for lr, one for the other metrics; None without rows."""
    if not Path(csv_path).is_file():
        return None
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or x not in rows[0]:
        return None

    def col(k: str) -> np.ndarray:
        return np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows])

    xs = col(x)
    keys = [k for k in rows[0] if k != x and np.isfinite(col(k)).any()]
    groups = {
        "losses": [k for k in keys if "loss" in k],
        "learning rate": [k for k in keys if k.startswith("lr")],
        "metrics": [k for k in keys if "loss" not in k and not k.startswith("lr") and "time" not in k],
    }
    groups = {t: ks for t, ks in groups.items() if ks}
    plt = _plt()
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(5 * max(1, len(groups)), 3.6), squeeze=False)
    for ax, (title, ks) in zip(axes[0], groups.items(), strict=False):
        for k in ks:
            ax.plot(xs, col(k), marker="o", ms=3, label=k)
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, Path(out))


def plot_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, *, title: str = "precision-recall") -> Path:
    """``curves``: ``{class: (recall, precision)}``; the legend gives each class's AP (area)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for name, (r, p) in curves.items():
        ok = np.isfinite(p) & (p >= 0)
        ap = float(np.mean(np.where(ok, p, 0.0))) if len(p) else 0.0
        ax.plot(r[ok], p[ok], label=f"{name} (AP {ap:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, Path(out))


def plot_confusion(matrix: np.ndarray, names: Sequence[str], out: Path, *, title: str = "confusion matrix") -> Path:
    """Counts with truth on rows and prediction on columns; each row also shaded by its share."""
    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 1.1 * len(names) + 2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, Path(out))


def image_grid(
    tiles: Sequence[np.ndarray], captions: Sequence[str], out: Path, *, cols: int = 2, tile_px: int = 320
) -> Path:
    """RGB uint8 tiles resized to ``tile_px`` on the long side, ``cols`` per row, captioned."""
    plt = _plt()
    rows = max(1, -(-len(tiles) // cols))
    lines = max((c.count("\n") + 1 for c in captions), default=1)  # caption height per row
    fig, axes = plt.subplots(
        rows, cols, figsize=(cols * tile_px / 100, rows * tile_px / 100 + 0.2 * lines * rows), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, t, c in zip(axes.ravel(), tiles, captions, strict=False):
        ax.imshow(t)
        ax.set_title(c, fontsize=8)
    return _save(fig, Path(out))


__all__ = ["image_grid", "plot_confusion", "plot_curves", "plot_pr"]
