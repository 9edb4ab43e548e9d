"""Plain training / inference functions for torch classifiers (torchvision-references style)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from leukoscan.classify.preprocess import PreprocessCfg, build_augment, prepare_crop, to_tensor
from leukoscan.device import autocast, resolve_device


def seed_all(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_one_epoch(
    net: Any,
    crops: list[np.ndarray],
    labels: np.ndarray,
    pre: PreprocessCfg,
    opt: Any,
    sched: Any,
    loss_fn: Any,
    *,
    batch: int,
    augment: Any,
    rng: np.random.Generator,
    device: str,
    scaler: Any = None,
) -> float:
    """One pass over prepared ``(S, S, 3)`` crops in random order; returns the mean loss.

    ``scaler``: a CUDA ``torch.amp.GradScaler`` turns on float16 autocast (AMP)."""
    import torch

    net.train()
    order = rng.permutation(len(crops))
    total, seen = 0.0, 0
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        if len(idx) < 2 and len(order) > 1:  # BatchNorm needs >= 2 samples
            continue
        imgs = [augment(image=crops[j])["image"] if augment else crops[j] for j in idx]
        x = to_tensor(imgs, pre).to(device)
        y = torch.as_tensor(labels[idx], dtype=torch.long, device=device)
        with autocast(device, enabled=scaler is not None):
            loss = loss_fn(net(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {loss.item()}")
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sched.step()
        total += loss.item() * len(idx)
        seen += len(idx)
    return total / max(seen, 1)


def fit_torch(
    net: Any,
    pre: PreprocessCfg,
    images: Sequence[np.ndarray],
    labels: np.ndarray,
    cfg: Any,
    log: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``net`` with AdamW + one-cycle cosine schedule; returns per-epoch history dicts."""
    import torch

    seed_all(cfg.seed)
    device = resolve_device(cfg.device)
    net.to(device)
    crops = [prepare_crop(im, pre) for im in images]
    steps = cfg.epochs * max(1, math.ceil(len(crops) / cfg.batch))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1), pct_start=0.15)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    augment = build_augment(cfg.augment, pre.input_size)
    rng = np.random.default_rng(cfg.seed)
    scaler = torch.amp.GradScaler("cuda") if str(device).startswith("cuda") else None  # AMP on CUDA
    history = []
    for epoch in range(cfg.epochs):
        loss = train_one_epoch(
            net,
            crops,
            labels,
            pre,
            opt,
            sched,
            loss_fn,
            batch=cfg.batch,
            augment=augment,
            rng=rng,
            device=device,
            scaler=scaler,
        )
        row = {"epoch": epoch + 1, "train_loss": loss, "lr": opt.param_groups[0]["lr"]}
        history.append(row)
        if log:
            log(row)
    net.eval()
    return history


def predict_torch(net: Any, pre: PreprocessCfg, crops: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
    """Softmax probabilities ``(N, C)`` for raw RGB crops (eval mode, no augmentation)."""
    import torch

    net.eval()
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode(), autocast(device):
        for i in range(0, len(crops), batch):
            x = to_tensor([prepare_crop(c, pre) for c in crops[i : i + batch]], pre).to(device)
            out.append(torch.softmax(net(x).float(), dim=1).cpu().numpy())
    if not out:
        return np.zeros((0, getattr(net, "num_classes", 2)), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)
