"""torchvision Faster R-CNN backend with a plain training loop (train_one_epoch / evaluate).

Image size: ``imgsz`` is the longer side the network sees, like YOLO's (torchvision's
``min_size = max_size = imgsz``; its default 800 would upscale a 640x480 smear to
1067x800 and cost ~5x more). Training from scratch uses ``weights=None,
weights_backbone=None``; pretrained uses COCO weights with a new box predictor.
Augmentation: :func:`leukoscan.detect.augment.albumentations_pipeline` (same config as YOLO).
Checkpoints: ``{"leukoscan": meta, "model": state_dict, "epoch", "best_fitness",
"optimizer", "scheduler"}``; ``last.pt`` is written (atomically) after every epoch and
is what ``--resume`` continues from; ``best.pt`` keeps the best val mAP50.
"""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leukoscan import ddp
from leukoscan.data import read_detection
from leukoscan.detect.augment import AugmentConfig, albumentations_pipeline
from leukoscan.detect.base import BaseDetector, DetectorMeta, FitArgs, make_detections
from leukoscan.detect.evaluate import evaluate_detector
from leukoscan.detect.pretrained import warn_scratch
from leukoscan.detect.registry import DETECTORS
from leukoscan.device import autocast
from leukoscan.errors import ConfigError
from leukoscan.io import atomic_path, read_image
from leukoscan.offline import offline_var, unreachable
from leukoscan.trust import torch_load

if TYPE_CHECKING:
    import supervision as sv

FRCNN_MODELS = ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn_v2")


def make_model(arch: str, num_classes: int, imgsz: int, pretrained: bool, rois: int = 128) -> tuple[Any, str]:
    """torchvision detector with ``num_classes + 1`` outputs (0 = background) -> (model, state).

    ``rois``: RoIs sampled per image for the box head in training (torchvision: 512). The
    v2 ResNet-50 head runs four 3x3 convs per RoI, so 512 costs ~4x more than 128 while
    smears hold at most a few dozen cells. Test-time proposals are cut in the same spirit
    to ``max(100, 2 * rois)`` (torchvision: 1000), each of which runs the box head.
    """
    from torchvision.models import detection as D
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    fn = getattr(D, arch)
    kw = {
        "min_size": imgsz,
        "max_size": imgsz,
        "box_batch_size_per_image": rois,
        "rpn_post_nms_top_n_test": max(100, 2 * rois),
    }
    if pretrained:
        var = offline_var()
        reason = f"offline: {var} is set" if var else unreachable("download.pytorch.org")
        if reason is None:
            try:
                model = fn(weights="DEFAULT", **kw)
                in_f = model.roi_heads.box_predictor.cls_score.in_features
                model.roi_heads.box_predictor = FastRCNNPredictor(in_f, num_classes + 1)
                return model, "true"
            except Exception as e:  # URLError, hash mismatch, ...
                reason = f"download failed: {str(e).splitlines()[0][:120]}"
        warn_scratch(arch, reason)
    model = fn(weights=None, weights_backbone=None, num_classes=num_classes + 1, **kw)
    return model, "false (unavailable)" if pretrained else "false"


class BoxDataset:
    """A prepared split as torchvision detection samples: (CHW float [0,1], target dict)."""

    def __init__(self, data_dir: Path, split: str, transform: Any = None) -> None:
        self.records = read_detection(data_dir, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[Any, dict[str, Any]]:
        import torch

        rec = self.records[i]
        img = read_image(rec.path)
        h, w = img.shape[:2]
        boxes = np.asarray(rec.boxes, np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        labels = np.asarray(rec.class_ids, np.int64) + 1
        ok = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        boxes, labels = boxes[ok], labels[ok]
        if self.transform is not None:
            out = self.transform(image=img, bboxes=boxes, labels=labels)
            img = out["image"]
            boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
            labels = np.asarray(out["labels"], np.int64).reshape(-1)
        tensor = torch.tensor(img).permute(2, 0, 1).float().div(255)
        return tensor, {"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(labels)}


def _collate(batch: list) -> tuple:
    return tuple(zip(*batch, strict=True))


def train_one_epoch(
    model: Any,
    optimizer: Any,
    scheduler: Any,
    loader: Any,
    device: str,
    *,
    desc: str = "train",
    progress: bool = True,
    scaler: Any = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean losses (``train_loss``, ``train_loss_classifier``...).

    ``model`` may be wrapped in ``DistributedDataParallel``; ``scaler`` (a CUDA
    ``torch.amp.GradScaler``) turns on float16 autocast (AMP).
    """
    import torch
    from tqdm import tqdm

    model.train()
    sums: dict[str, float] = {}
    n = 0
    bar = tqdm(loader, desc=desc, disable=not progress, leave=False)
    for images, targets in bar:
        images = [im.to(device) for im in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        with autocast(device, enabled=scaler is not None):
            losses = model(images, targets)
            loss = sum(losses.values())
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"loss is {value}; lower lr (now {optimizer.param_groups[0]['lr']:.3g})")
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        n += 1
        for k, v in {"loss": loss, **losses}.items():
            sums[f"train_{k}"] = sums.get(f"train_{k}", 0.0) + v.item()
        bar.set_postfix(loss=f"{value:.3f}")
    return {k: v / max(n, 1) for k, v in sums.items()}


def evaluate(detector: FrcnnDetector, data_dir: Path, split: str, *, progress: bool = True) -> dict[str, float]:
    """COCO metrics of the current model on a prepared split (the shared evaluator)."""
    m = evaluate_detector(detector, data_dir, split, conf=0.001, progress=progress)
    return {"map50": m.map50, "map50_95": m.map50_95, "recall": m.recall50}


class FrcnnDetector(BaseDetector):
    """A torchvision Faster R-CNN behind the :class:`~leukoscan.detect.base.BaseDetector` interface."""

    def __init__(self, meta: DetectorMeta, model: Any = None, *, pretrained: bool = False) -> None:
        self.meta = meta
        self._want_pretrained = pretrained
        self.model = model
        self.device = "cpu"
        self.threads = 0

    def _ensure_model(self) -> None:
        if self.model is None:
            self.model, self.meta.pretrained = make_model(
                self.meta.backend,
                len(self.class_names),
                self.meta.imgsz,
                self._want_pretrained,
                self.meta.extra.get("rois", 128),
            )

    def _optim(self, args: FitArgs, steps: int) -> tuple[Any, Any]:
        import torch

        params = [p for p in self.model.parameters() if p.requires_grad]
        lr = args.lr or 0.01
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
        warm, total = max(1, min(100, steps)), max(steps * args.epochs, 1)
        sch = torch.optim.lr_scheduler  # linear warm-up from 10% of lr, then cosine to 5% of lr
        return opt, sch.SequentialLR(
            opt,
            [
                sch.LinearLR(opt, start_factor=0.1, total_iters=warm),
                sch.CosineAnnealingLR(opt, T_max=max(1, total - warm), eta_min=0.05 * lr),
            ],
            milestones=[warm],
        )

    def fit(self, args: FitArgs) -> dict[str, Any]:
        """Train; under ``torchrun`` each process trains on its own shard (DistributedSampler,
        DistributedDataParallel) and only rank 0 validates, writes weights and calls back."""
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        device = ddp.init(args.device)
        self.device, self.threads = device, args.threads
        wdir = args.run_dir / "weights"
        ckpt = torch_load(wdir / "last.pt", what="detector checkpoint") if args.resume else None
        if ckpt is not None:
            self.meta = DetectorMeta.from_dict(ckpt["leukoscan"])
        self._ensure_model()
        self.model.to(device)
        ds = BoxDataset(
            args.data_dir, args.train_split, albumentations_pipeline(args.augment or AugmentConfig(), seed=args.seed)
        )
        per_rank = max(1, args.batch // ddp.world_size())  # --batch is the global batch, as in ultralytics
        sampler = ddp.sampler(ds, shuffle=True, seed=args.seed)
        loader = torch.utils.data.DataLoader(
            ds,
            batch_size=per_rank,
            sampler=sampler,
            num_workers=args.workers,
            collate_fn=_collate,
            drop_last=len(ds) // ddp.world_size() > per_rank,
        )
        opt, sched = self._optim(args, len(loader))
        scaler = torch.amp.GradScaler("cuda") if args.amp and str(device).startswith("cuda") else None
        start, best = 0, -1.0
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            start, best = ckpt["epoch"] + 1, ckpt["best_fitness"]
        net = ddp.wrap(self.model, device)
        t_all = time.time()
        for epoch in range(start, args.epochs):
            t0 = time.time()
            sampler.set_epoch(epoch)
            losses = train_one_epoch(
                net,
                opt,
                sched,
                loader,
                device,
                desc=f"epoch {epoch + 1}/{args.epochs}",
                progress=args.verbose and ddp.is_main(),
                scaler=scaler,
            )
            if ddp.is_main():
                best = self._end_epoch(args, epoch, losses, opt, sched, best, t0)
            ddp.barrier()  # the other ranks wait while rank 0 validates and saves
        return {"seconds": time.time() - t_all, "best_map50": best, "optimizer": "SGD", "lr0": args.lr or 0.01}

    def _end_epoch(
        self, args: FitArgs, epoch: int, losses: dict[str, float], opt: Any, sched: Any, best: float, t0: float
    ) -> float:
        """Validate, save ``best.pt``/``last.pt``, report to the callbacks (rank 0 only)."""
        wdir = args.run_dir / "weights"
        wdir.mkdir(parents=True, exist_ok=True)
        metrics = {**losses, "lr": opt.param_groups[0]["lr"]}
        if args.val or epoch + 1 == args.epochs:
            metrics.update(evaluate(self, args.data_dir, args.val_split, progress=args.verbose))
        if metrics.get("map50", -1.0) > best:
            best = metrics["map50"]
            self._save_ckpt(wdir / "best.pt", epoch, best)
        self._save_ckpt(wdir / "last.pt", epoch, best, opt, sched)
        metrics = {"epoch_time_s": time.time() - t0, **metrics}
        if args.verbose:
            print(
                f"epoch {epoch + 1}/{args.epochs}: loss {losses.get('train_loss', 0):.4f} "
                f"mAP50 {metrics.get('map50', float('nan')):.4f} ({metrics['epoch_time_s']:.0f}s)",
                flush=True,
            )
        for cb in args.callbacks:
            cb(epoch + 1, metrics)
        return best

    def _save_ckpt(self, path: Path, epoch: int, best: float, opt: Any = None, sched: Any = None) -> None:
        import torch

        ckpt: dict[str, Any] = {
            "leukoscan": self.meta.to_dict(),
            "model": self.model.state_dict(),
            "epoch": epoch,
            "best_fitness": best,
        }
        if opt is not None:
            ckpt.update(optimizer=opt.state_dict(), scheduler=sched.state_dict())
        with atomic_path(path) as tmp:
            torch.save(ckpt, tmp)

    def to(self, device: str) -> FrcnnDetector:
        self._ensure_model()
        self.device = device
        self.model.to(device)
        return self

    def predict_full(self, image: np.ndarray, *, conf: float, iou: float) -> sv.Detections:
        import torch

        self._ensure_model()
        m = self.model.eval()
        m.roi_heads.score_thresh, m.roi_heads.nms_thresh = conf, iou
        dev = next(m.parameters()).device
        x = torch.tensor(image).permute(2, 0, 1).float().div(255).to(dev)
        with torch.inference_mode(), autocast(dev):
            out = m([x])[0]
        return make_detections(
            out["boxes"].cpu().numpy(), out["scores"].cpu().numpy(), out["labels"].cpu().numpy() - 1, self.class_names
        )

    def save(self, path: str | Path) -> Path:
        self._ensure_model()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._save_ckpt(path, -1, -1.0)
        return path


def build_frcnn(
    name: str,
    *,
    num_classes: int,
    class_names: list[str] | None = None,
    pretrained: bool | str = True,
    imgsz: int = 640,
    rois_per_image: int = 128,
    **_: Any,
) -> FrcnnDetector:
    if isinstance(pretrained, str):
        raise ConfigError(
            f"pretrained={pretrained}: LeukoScan's blood weights exist for YOLO detectors only; "
            "use pretrained=true (COCO, online) or --scratch for Faster R-CNN"
        )
    names = list(class_names) if class_names else [f"class{i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise ConfigError(f"num_classes={num_classes} but {len(names)} class names given")
    meta = DetectorMeta(backend=name, class_names=names, imgsz=int(imgsz), extra={"rois": int(rois_per_image)})
    return FrcnnDetector(meta, pretrained=pretrained)


def load_frcnn(path: Path, ckpt: dict[str, Any]) -> FrcnnDetector:
    meta = DetectorMeta.from_dict(ckpt["leukoscan"])
    model, _ = make_model(meta.backend, len(meta.class_names), meta.imgsz, False, meta.extra.get("rois", 128))
    model.load_state_dict(ckpt["model"])
    return FrcnnDetector(meta, model.eval())


for _name in FRCNN_MODELS:
    DETECTORS.add(_name, partial(build_frcnn, _name), kind="frcnn", load=load_frcnn)
