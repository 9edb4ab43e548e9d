"""Training records of a classifier run: one ``metrics.csv``, plots, and W&B when asked.

:func:`training_logger` turns every row a training logs (per-epoch ``train_loss``/``lr`` of
each fold and of the final fit, per-fold balanced accuracy) into a row of the one run logger
(:class:`leukoscan.runlog.RunLog`: ``<run>/metrics.csv``, columns ``stage, epoch,
train_loss, lr, balanced_accuracy``) and its W&B keys ``train/<stage>/loss``,
``lr/<stage>``, ``cv/balanced_accuracy``.
:func:`write_records` draws ``plots/curves.png``, ``plots/pr_curve.png``,
``plots/confusion_matrix.png`` and ``plots/val_predictions.jpg`` from the evaluation
predictions (out-of-fold for CV, else the held-out split) and logs them, the PR curve, the
confusion matrix and the weights (artifact) to W&B (project shared with detection runs,
``job_type="classify-train"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan import plots
from leukoscan.runlog import RunLog

COLUMNS = ["stage", "epoch", "train_loss", "lr", "balanced_accuracy"]


def training_logger(log: RunLog) -> Callable[[dict[str, Any]], None]:
    """``log(row)`` for :func:`leukoscan.classify.train.cross_validate` and ``fit``."""

    def on_row(row: dict[str, Any]) -> None:
        if "fold_balanced_accuracy" in row:
            rec = {"stage": f"fold{row['fold']}", "balanced_accuracy": row["fold_balanced_accuracy"]}
            wb = {"cv/balanced_accuracy": rec["balanced_accuracy"], "cv/fold": row["fold"]}
        else:
            stage = "final"
            flat = {}
            for k, v in row.items():
                if k.startswith("fold") and "/" in k:
                    stage, k = k.split("/", 1)
                flat[k] = v
            rec = {
                "stage": stage,
                "epoch": flat.get("epoch"),
                "train_loss": flat.get("train_loss"),
                "lr": flat.get("lr"),
            }
            wb = {
                f"train/{stage}/loss": rec["train_loss"],
                f"lr/{stage}": rec["lr"],
                f"train/{stage}/epoch": rec["epoch"],
            }
        log(rec, wb)

    return on_row


def _curves(rows: list[dict[str, str]], out: Path) -> Path | None:
    """Loss and lr per epoch of each stage, from the rows of ``metrics.csv``."""
    plt = plots._plt()
    epochs = [r for r in rows if r.get("epoch") and r.get("train_loss")]
    stages = list(dict.fromkeys(r["stage"] for r in epochs))
    if not stages:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for s in stages:
        rs = [r for r in epochs if r["stage"] == s]
        a1.plot([int(r["epoch"]) for r in rs], [float(r["train_loss"]) for r in rs], marker="o", ms=3, label=s)
        a2.plot([int(r["epoch"]) for r in rs], [float(r["lr"]) if r.get("lr") else np.nan for r in rs], label=s)
    a1.set(title="training loss", xlabel="epoch")
    a2.set(title="learning rate", xlabel="epoch")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return plots._save(fig, out)


def write_records(
    run_dir: Path,
    log: RunLog,
    class_names: Sequence[str],
    positive: int | None,
    labels: np.ndarray | None,
    proba: np.ndarray | None,
    images: Sequence[np.ndarray] = (),
    *,
    what: str = "",
    weights: Path | None = None,
    n_samples: int = 8,
) -> dict[str, Path]:
    """Plots of the run (see module docstring); W&B logging when ``log.wb`` is set."""
    from sklearn.metrics import confusion_matrix, precision_recall_curve

    pdir = Path(run_dir) / "plots"
    files: dict[str, Path] = {}
    c = _curves(log.rows(), pdir / "curves.png")
    if c:
        files["curves"] = c
    names = list(class_names)
    if labels is not None and proba is not None and len(labels):
        if positive is not None:  # a binary task (a multiclass one has no single PR curve)
            y = (np.asarray(labels) == positive).astype(int)
            prec, rec, _ = precision_recall_curve(y, proba[:, positive])
            files["pr_curve"] = plots.plot_pr(
                {names[positive]: (rec, prec)}, pdir / "pr_curve.png", title=f"PR curve ({what})"
            )
        pred = proba.argmax(1)
        cm = confusion_matrix(labels, pred, labels=list(range(len(names))))
        files["confusion_matrix"] = plots.plot_confusion(
            cm, names, pdir / "confusion_matrix.png", title=f"confusion ({what})"
        )
        if len(images):
            wrong = [i for i in range(len(labels)) if pred[i] != labels[i]]
            pick = (wrong[: n_samples // 2] + [i for i in range(len(labels)) if pred[i] == labels[i]])[:n_samples]
            files["val_predictions"] = plots.image_grid(
                [images[i] for i in pick],
                [f"true {names[labels[i]]}\npred {names[pred[i]]} {proba[i, pred[i]]:.2f}" for i in pick],
                pdir / "val_predictions.jpg",
                cols=4,
                tile_px=160,
            )
    if log.wb is not None:
        _log_wandb(log.wb, files, names, labels, proba, weights)
    return files


def _log_wandb(
    run: Any,
    files: dict[str, Path],
    names: list[str],
    labels: np.ndarray | None,
    proba: np.ndarray | None,
    weights: Path | None,
) -> None:
    import wandb

    log: dict[str, Any] = {f"plots/{k}": wandb.Image(str(p)) for k, p in files.items()}
    if labels is not None and proba is not None and len(labels):
        from sklearn.metrics import precision_recall_curve

        curves = [
            precision_recall_curve((np.asarray(labels) == k).astype(int), proba[:, k]) for k in range(len(names))
        ]  # (precision, recall, thresholds) per class, one vs rest
        grid = np.linspace(0, 1, 101)  # precision interpolated on a recall grid (no pandas needed)
        ys = [[float(np.max(p[r >= g], initial=0.0)) for g in grid] for p, r, _ in curves]
        log["final/pr_curve"] = wandb.plot.line_series(
            xs=[float(g) for g in grid], ys=ys, keys=names, title="PR curve", xname="recall"
        )
        log["final/confusion_matrix"] = wandb.plot.confusion_matrix(
            y_true=[int(v) for v in labels], preds=[int(v) for v in proba.argmax(1)], class_names=names
        )
    run.log(log)
    if weights is not None and Path(weights).is_file():
        art = wandb.Artifact(f"{run.name}-weights", type="model", metadata={"file": Path(weights).name})
        art.add_file(str(weights))
        run.log_artifact(art, aliases=["best", "latest"])
