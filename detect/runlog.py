"""Per-epoch logging for a detection run: metrics CSV and (optional) Weights & Biases.

W&B is off by default. With ``WANDB_MODE=offline`` it logs into ``<run>/wandb`` with no
network and no prompt (``wandb sync <run>/wandb/offline-run-*`` uploads it later). When
enabled but neither logged in nor offline, it fails at start with a clear message.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.io import atomic_write_text


class CsvLog:
    """``metrics.csv``: one row per epoch (a resumed epoch replaces its earlier row)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def rows(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        rows = [r for r in self.rows() if int(r["epoch"]) < epoch]
        rows.append({"epoch": str(epoch), **{k: f"{v:.6g}" for k, v in metrics.items()}})
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols]
        buf = io.StringIO()
        wr = csv.DictWriter(buf, fieldnames=cols)
        wr.writeheader()
        wr.writerows(rows)
        atomic_write_text(self.path, buf.getvalue())

    def epoch_times(self) -> list[float]:
        return [float(r["epoch_time_s"]) for r in self.rows() if r.get("epoch_time_s")]


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


class WandbLog:
    """A detection run in W&B: per-epoch metrics under fixed keys, the config as run, and at
    the end the plots, a PR curve, a confusion matrix, ground truth and predicted boxes on
    samples (one class map for the whole run) and the best weights as a model artifact."""

    def __init__(self, run_dir: Path, *, project: str, entity: str | None, name: str, config: dict[str, Any],
                 class_names: Sequence[str] = (), job_type: str = "detect-train") -> None:
        import wandb

        # absolute: wandb's core process (started once per Python process) has its own cwd
        run_dir = Path(run_dir).absolute()
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id)
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        try:
            self.run = wandb.init(project=project, entity=entity, name=name, id=run_id, resume="allow",
                                  dir=str(run_dir), config=config, job_type=job_type)
        except Exception as e:
            raise RuntimeError(
                f"W&B could not start ({str(e).splitlines()[0]}). Log in with `wandb login`, or set "
                "WANDB_MODE=offline to log locally without network, or drop --wandb."
            ) from e
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

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        prefix = f"{self.epoch_evaluator}_" if self.epoch_evaluator else ""
        keys = {k: (f"metrics/{prefix}{k}" if prefix and k in ("map50", "map50_95", "precision", "recall")
                    else wandb_key(k)) for k in metrics}
        self.run.log({**{keys[k]: v for k, v in metrics.items()}, "epoch": epoch}, step=epoch)

    def final(self, step: int, metrics: dict[str, Any], rec: Any, weights: Path | None = None) -> None:
        """``metrics``: DetectionMetrics.to_dict(); ``rec``: :class:`leukoscan.detect.records.Records`."""
        wandb = self._wandb
        table = wandb.Table(columns=["class", "AP50", "AP50-95", "recall50", "n_gt"])
        for name, pc in metrics["per_class"].items():
            table.add_data(name, pc["ap50"], pc["ap"], pc["recall50"], pc["n_gt"])
        images = [wandb.Image(img, caption=file, boxes={"ground_truth": self._boxes(gt, img.shape, False),
                                                        "predictions": self._boxes(pred, img.shape, True)})
                  for file, img, gt, pred in rec.samples]
        log: dict[str, Any] = {"final/per_class": table, "final/samples": images, "final/mAP50": metrics["map50"],
                               "final/mAP50-95": metrics["map50_95"]}
        log.update({f"plots/{k}": wandb.Image(str(p)) for k, p in rec.files.items()})
        if rec.pr:
            names = list(rec.pr)
            log["final/pr_curve"] = wandb.plot.line_series(
                xs=[float(x) for x in next(iter(rec.pr.values()))[0]],
                ys=[[max(0.0, float(v)) for v in rec.pr[n][1]] for n in names], keys=names,
                title="PR curve (IoU 0.5)", xname="recall")
        y_true, y_pred = _pairs(rec.confusion)
        if y_true:
            log["final/confusion_matrix"] = wandb.plot.confusion_matrix(
                y_true=y_true, preds=y_pred, class_names=rec.names, title="confusion (IoU 0.5, score >= 0.25)")
        self.run.log(log, step=step)
        self.run.summary.update({"evaluator": "LeukoScan COCO evaluator (pycocotools), weights/best.pt, val split"})
        if weights is not None and Path(weights).is_file():
            art = wandb.Artifact(f"{self.run.name}-weights", type="model",
                                 metadata={"mAP50": metrics["map50"], "file": Path(weights).name})
            art.add_file(str(weights))
            self.run.log_artifact(art, aliases=["best", "latest"])

    def _boxes(self, det: Any, shape: tuple[int, ...], scores: bool) -> dict[str, Any]:
        h, w = shape[:2]
        data = []
        for k in range(len(det)):
            x1, y1, x2, y2 = (float(v) for v in det.xyxy[k])
            cid = int(det.class_id[k])
            box = {"position": {"minX": x1 / w, "maxX": x2 / w, "minY": y1 / h, "maxY": y2 / h},
                   "class_id": cid, "box_caption": self.class_labels[cid]}
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
