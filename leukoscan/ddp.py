"""torch.distributed for training under ``torchrun``: one code path for 1 and N processes.

``torchrun --nproc_per_node N ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`init` then joins the process group (``nccl`` on CUDA, ``gloo`` on CPU). Started
without torchrun, every helper here behaves as the single process of a world of one
(rank 0, no process group), so the training loop does not branch on it.
"""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0: the one process that writes the run folder, logs and evaluates."""
    return rank() == 0


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init(device: str) -> str:
    """Join the process group when launched with WORLD_SIZE > 1; return this process's device.

    ``device``: the resolved run device (``"cpu"`` or ``"cuda:0"``); on CUDA each process
    takes GPU ``LOCAL_RANK``.
    """
    if world_size() == 1:
        return device
    import torch
    import torch.distributed as dist

    cuda = str(device).startswith("cuda")
    if cuda:
        device = f"cuda:{local_rank()}"
        torch.cuda.set_device(device)
    if not _initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return device


def barrier() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects; returns ``obj`` in a world of one)."""
    if not _initialized():
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: Any, device: str) -> Any:
    """``DistributedDataParallel(model)`` in a world of N > 1, else ``model`` itself."""
    if not _initialized():
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(str(device).split(":")[1])] if str(device).startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def sampler(dataset: Any, *, shuffle: bool, seed: int) -> Any:
    """A ``DistributedSampler`` over ``dataset`` for this rank (disjoint shards; tail dropped

    so every rank gets the same number of samples and no sample is repeated)."""
    from torch.utils.data import DistributedSampler

    return DistributedSampler(
        dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed, drop_last=world_size() > 1
    )


def cleanup() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.destroy_process_group()


__all__ = ["barrier", "broadcast", "cleanup", "init", "is_main", "local_rank", "rank", "sampler", "world_size", "wrap"]
