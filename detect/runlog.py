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
from pathlib import Path
from typing import Any

import numpy as np

from leukoscan.io import atomic_write_text
from leukoscan.schema import CLASS_NAME


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


class WandbLog:
    """Thin wrapper: per-epoch metrics, sample predictions, final per-class table."""

    def __init__(self, run_dir: Path, *, project: str, entity: str | None, name: str, config: dict[str, Any]) -> None:
        import wandb

        run_dir = Path(run_dir)
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id)
        os.environ.setdefault("WANDB_DIR", str(run_dir))
        try:
            self.run = wandb.init(project=project, entity=entity, name=name, id=run_id, resume="allow",
                                  dir=str(run_dir), config=config, job_type="detect-train")
        except Exception as e:
            raise RuntimeError(
                f"W&B could not start ({str(e).splitlines()[0]}). Log in with `wandb login`, or set "
                "WANDB_MODE=offline to log locally without network, or drop --wandb."
            ) from e
        self._wandb = wandb

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log({**{f"train/{k}" if "loss" in k else f"val/{k}": v for k, v in metrics.items()},
                      "epoch": epoch}, step=epoch)

    def final(self, step: int, metrics: dict[str, Any], samples: list[tuple[str, np.ndarray, Any]]) -> None:
        """``metrics``: DetectionMetrics.to_dict(); ``samples``: (file, RGB image, sv.Detections)."""
        wandb = self._wandb
        table = wandb.Table(columns=["class", "AP50", "AP50-95", "recall50", "n_gt"])
        for name, pc in metrics["per_class"].items():
            table.add_data(name, pc["ap50"], pc["ap"], pc["recall50"], pc["n_gt"])
        images = [wandb.Image(img, caption=file, boxes=_wandb_boxes(det, img.shape)) for file, img, det in samples]
        self.run.log({"final/per_class": table, "final/samples": images, "final/mAP50": metrics["map50"],
                      "final/mAP50-95": metrics["map50_95"]}, step=step)
        self.run.summary.update({"mAP50": metrics["map50"], "mAP50-95": metrics["map50_95"]})

    def finish(self) -> None:
        self.run.finish()


def _wandb_boxes(det: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    h, w = shape[:2]
    names = sorted(set(det.data.get(CLASS_NAME, []))) if len(det) else []
    ids = {n: i for i, n in enumerate(names)}
    data = []
    for k in range(len(det)):
        x1, y1, x2, y2 = (float(v) for v in det.xyxy[k])
        name = str(det.data[CLASS_NAME][k])
        data.append({"position": {"minX": x1 / w, "maxX": x2 / w, "minY": y1 / h, "maxY": y2 / h},
                     "class_id": ids[name], "box_caption": f"{name} {float(det.confidence[k]):.2f}",
                     "scores": {"conf": float(det.confidence[k])}})
    return {"predictions": {"box_data": data, "class_labels": {i: n for n, i in ids.items()}}}
