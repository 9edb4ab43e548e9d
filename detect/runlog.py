"""What a detection run logs, on top of the one run logger (:mod:`leukoscan.runlog`).

:func:`epoch_logger`: each epoch's metrics into ``metrics.csv`` and W&B (keys from
:func:`wandb_key`). :class:`WandbLog`: the W&B run of a detection run (started by
:func:`leukoscan.runlog.start_wandb`) and what it gets at the end: plots, a PR curve, a
confusion matrix, boxes on samples, the best weights. W&B is off by default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.runlog import RunLog, start_wandb


def wandb_key(name: str) -> str:
    """Our metric name -> its W&B key: ``train/*`` and ``val/*`` losses, ``lr/*``, ``time/*``,
    everything else under ``metrics/``."""
    if name.startswith("val_"):
        return "val/" + name[4:]
    if "loss" in name:
        return "train/" + name.removeprefix("train_")
    if name.startswith("lr"):
        return "lr/" + (name[3:] or "pg0")
    if "time" in name:
        return "time/" + name
    return "metrics/" + name


def epoch_logger(log: RunLog, evaluator: str = "") -> Callable[[int, dict[str, float]], None]:
    """An epoch callback (``cb(epoch, metrics)``): one row per epoch, at step ``epoch`` in W&B.

    ``evaluator``: who computed the per-epoch val metrics ("ultralytics" for YOLO); its name
    prefixes their W&B keys (``metrics/ultralytics_map50``), so they are never mistaken for the
    final figures of LeukoScan's COCO evaluator (``final/mAP50``)."""
    prefix = f"{evaluator}_" if evaluator else ""

    def key(k: str) -> str:
        return f"metrics/{prefix}{k}" if prefix and k in ("map50", "map50_95", "precision", "recall") else wandb_key(k)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        log({"epoch": epoch, **metrics}, {**{key(k): v for k, v in metrics.items()}, "epoch": epoch}, step=epoch)

    return on_epoch


class WandbLog:
    """A detection run in W&B: per-epoch metrics under fixed keys, the config as run, and at
    the end the plots, a PR curve, a confusion matrix, ground truth and predicted boxes on
    samples (one class map for the whole run) and the best weights as a model artifact."""

    def __init__(
        self,
        run_dir: Path,
        *,
        project: str,
        entity: str | None,
        name: str,
        config: dict[str, Any],
        class_names: Sequence[str] = (),
        job_type: str = "detect-train",
    ) -> None:
        import wandb

        self.run = start_wandb(run_dir, project=project, entity=entity, name=name, config=config, job_type=job_type)
        self._wandb = wandb
        self.class_labels = {i: n for i, n in enumerate(class_names)}  # fixed for the whole run
        self.run.define_metric("epoch")
        for prefix in ("train/*", "val/*", "lr/*", "metrics/*", "time/*"):
            self.run.define_metric(prefix, step_metric="epoch")

    def config_update(self, values: dict[str, Any]) -> None:
        self.run.config.update(values, allow_val_change=True)

    #: Who computed the per-epoch val metrics ("ultralytics" for YOLO: its own validator). The
    #: final metrics (``final/mAP50``) are always LeukoScan's COCO evaluator (pycocotools) on best.pt.
    epoch_evaluator: str = ""

    def final(self, step: int, metrics: dict[str, Any], rec: Any, weights: Path | None = None) -> None:
        """``metrics``: DetectionMetrics.to_dict(); ``rec``: :class:`leukoscan.detect.records.Records`."""
        wandb = self._wandb
        table = wandb.Table(columns=["class", "AP50", "AP50-95", "recall50", "n_gt"])
        for name, pc in metrics["per_class"].items():
            table.add_data(name, pc["ap50"], pc["ap"], pc["recall50"], pc["n_gt"])
        images = [
            wandb.Image(
                img,
                caption=file,
                boxes={
                    "ground_truth": self._boxes(gt, img.shape, False),
                    "predictions": self._boxes(pred, img.shape, True),
                },
            )
            for file, img, gt, pred in rec.samples
        ]
        log: dict[str, Any] = {
            "final/per_class": table,
            "final/samples": images,
            "final/mAP50": metrics["map50"],
            "final/mAP50-95": metrics["map50_95"],
        }
        log.update({f"plots/{k}": wandb.Image(str(p)) for k, p in rec.files.items()})
        if rec.pr:
            names = list(rec.pr)
            log["final/pr_curve"] = wandb.plot.line_series(
                xs=[float(x) for x in next(iter(rec.pr.values()))[0]],
                ys=[[max(0.0, float(v)) for v in rec.pr[n][1]] for n in names],
                keys=names,
                title="PR curve (IoU 0.5)",
                xname="recall",
            )
        y_true, y_pred = _pairs(rec.confusion)
        if y_true:
            log["final/confusion_matrix"] = wandb.plot.confusion_matrix(
                y_true=y_true, preds=y_pred, class_names=rec.names, title="confusion (IoU 0.5, score >= 0.25)"
            )
        self.run.log(log, step=step)
        self.run.summary.update({"evaluator": "LeukoScan COCO evaluator (pycocotools), weights/best.pt, val split"})
        if weights is not None and Path(weights).is_file():
            art = wandb.Artifact(
                f"{self.run.name}-weights",
                type="model",
                metadata={"mAP50": metrics["map50"], "file": Path(weights).name},
            )
            art.add_file(str(weights))
            self.run.log_artifact(art, aliases=["best", "latest"])

    def _boxes(self, det: Any, shape: tuple[int, ...], scores: bool) -> dict[str, Any]:
        h, w = shape[:2]
        data = []
        for k in range(len(det)):
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[k])
            cid = int(det.class_id[k])
            box = {
                "position": {"minX": x1 / w, "maxX": x2 / w, "minY": y1 / h, "maxY": y2 / h},
                "class_id": cid,
                "box_caption": self.class_labels[cid],
            }
            if scores and det.confidence is not None:
                box["box_caption"] += f" {float(det.confidence[k]):.2f}"
                box["scores"] = {"conf": float(det.confidence[k])}
            data.append(box)
        return {"box_data": data, "class_labels": self.class_labels}

    def finish(self) -> None:
        self.run.finish()


def _pairs(matrix: np.ndarray) -> tuple[list[int], list[int]]:
    """A count matrix (rows truth, cols prediction) as the label pairs wandb's confusion plot takes."""
    y_true: list[int] = []
    y_pred: list[int] = []
    for i, j in zip(*np.nonzero(matrix), strict=True):
        n = int(matrix[i, j])
        y_true += [int(i)] * n
        y_pred += [int(j)] * n
    return y_true, y_pred
