"""Offline detection for pretrained-weight downloads: explicit, loud, never silent."""

from __future__ import annotations

import os
import socket
import sys

_OFFLINE_VARS = ("LEUKOSCAN_OFFLINE", "YOLO_OFFLINE", "HF_HUB_OFFLINE")


def offline_by_env() -> str | None:
    """The name of the env var that declares us offline, if any."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no"):
            return var
    return None


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Fast TCP reachability check (no hang: ``timeout`` seconds at most per address)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def warn_scratch(model: str, reason: str) -> None:
    """The one loud warning printed when pretrained weights cannot be had."""
    bar = "!" * 78
    print(
        f"\n{bar}\nWARNING: pretrained weights for {model} unavailable ({reason}); "
        f"training from scratch — pass --scratch to silence\n{bar}\n",
        file=sys.stderr,
        flush=True,
    )
