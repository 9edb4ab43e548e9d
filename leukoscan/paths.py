"""Locations: repository root, dataset cards, data root, run folders."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CARDS_DIR = REPO_ROOT / "datasets"
CONFIGS_DIR = REPO_ROOT / "configs"


def data_root(flag: str | Path | None = None) -> Path:
    """Data root: ``--data-root`` flag > ``LEUKOSCAN_DATA`` env > ``./datasets``."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("LEUKOSCAN_DATA")
    if env:
        return Path(env).expanduser()
    return Path("datasets")


def shared_data() -> Path | None:
    """The real development data (``LEUKOSCAN_SHARED_DATA`` or ``../shared/data``), if present."""
    env = os.environ.get("LEUKOSCAN_SHARED_DATA")
    cand = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return cand if cand.is_dir() else None


def new_run_dir(base: str | Path, name: str | None, default: str = "exp", exist_ok: bool = False) -> Path:
    """``base/name``; when it exists and ``exist_ok`` is False, ``name_2``, ``name_3``... (never overwrite).

    Digits already in the name are kept (``bench_e12`` -> ``bench_e12_2``, not ``bench_e2``).
    """
    base = Path(base)
    name = name or default
    path = base / name
    if exist_ok or not path.exists():
        return path
    i = 2
    while (base / f"{name}_{i}").exists():
        i += 1
    return base / f"{name}_{i}"


def newest_run(base: str | Path, marker: str) -> Path | None:
    """Newest folder under ``base`` that contains ``marker`` (a weights file name)."""
    base = Path(base)
    if not base.is_dir():
        return None
    runs = [p for p in base.iterdir() if (p / marker).is_file()]
    return max(runs, key=lambda p: (p / marker).stat().st_mtime) if runs else None
