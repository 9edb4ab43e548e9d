"""Device and CPU-thread selection shared by both stages."""

from __future__ import annotations

import os


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda:0"`` when CUDA is present, else ``"cpu"``; others pass through."""
    import torch

    if device in (None, "", "auto"):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if str(device).isdigit():
        device = f"cuda:{device}"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    return str(device)


def cpu_threads(requested: int | None = None) -> int:
    """Threads for torch on CPU: ``LEUKOSCAN_THREADS`` env, else ``requested``, else all cores.

    ultralytics picks ``cpu_count - 1`` (1 thread on a 2-core box); on a quiet 2-core
    machine 2 threads train ~1.5x faster (../shared/ENV_NOTES.md), so we use all cores by
    default and let a busy machine set ``LEUKOSCAN_THREADS=1``.
    """
    env = os.environ.get("LEUKOSCAN_THREADS")
    if env:
        return max(1, int(env))
    if requested:
        return max(1, int(requested))
    return max(1, os.cpu_count() or 1)


def set_cpu_threads(requested: int | None = None) -> int:
    import torch

    n = cpu_threads(requested)
    torch.set_num_threads(n)
    return n
