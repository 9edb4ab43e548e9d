"""Device and CPU-thread selection shared by both stages."""

from __future__ import annotations

import os
import re

from leukoscan.errors import ConfigError

#: Device strings LeukoScan passes on: auto, cpu, mps, cuda, cuda:N, N, and GPU lists N,M / cuda:N,M.
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda|(cuda:)?\d{1,2}(,\d{1,2})*)$")


def check_device(device: str | None) -> str:
    """``device`` if it has one of the :data:`DEVICE_RE` shapes, else ConfigError (checked before torch sees it)."""
    text = "auto" if device in (None, "") else str(device).strip().replace(" ", "")
    if not DEVICE_RE.match(text):
        raise ConfigError(
            f"device {str(device)[:40]!r}: expected auto, cpu, mps, cuda, cuda:N, N or GPU indices like 0,1"
        )
    return text


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda:0"`` when CUDA is present, else ``"cpu"``; ``"1"`` -> ``"cuda:1"``.

    A list of GPUs (``"0,1"``, ``"cuda:0,1"``) is kept as ``"0,1"``: training passes it to
    ultralytics' DDP; everything else runs on the first one (:func:`first_device`). A GPU
    asked for on a machine without (enough) CUDA devices is a ConfigError.
    """
    device = check_device(device)
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    ids = device.removeprefix("cuda:").split(",") if "," in device else None
    if ids is not None and not all(i.isdigit() for i in ids):
        raise ConfigError(f"device list {device!r}: expected GPU indices like 0,1")
    if device.isdigit():
        device = f"cuda:{device}"
    wanted = ids or ([device.split(":")[1]] if device.startswith("cuda:") else ["0"] if device == "cuda" else [])
    if device.startswith("cuda") or ids is not None:
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if have == 0 or max(int(i) for i in wanted) >= have:
            raise ConfigError(
                f"device {device!r} requested but this machine has {have} CUDA device(s); use --device cpu"
            )
    return ",".join(ids) if ids is not None else device


def first_device(device: str) -> str:
    """The device single-process work runs on: ``"0,1"`` -> ``"cuda:0"``; others unchanged."""
    return f"cuda:{device.split(',')[0]}" if "," in device else device


def autocast(device: object, enabled: bool = True):  # noqa: ANN201 - a torch context manager
    """float16 autocast (AMP) on CUDA; a no-op context elsewhere (CPU, MPS, meta)."""
    import torch

    kind = getattr(device, "type", str(device).split(":")[0])
    return torch.autocast("cuda", dtype=torch.float16, enabled=enabled and kind == "cuda")


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
