"""Locations: repository root, dataset cards, configs, data root (run folders: :mod:`leukoscan.runs`)."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = _PACKAGE.parent


def _installed_or_source(installed: Path, source: Path) -> Path:
    """Package data of a plain install (``leukoscan/<x>``) or, from a checkout, the repo folder."""
    return installed if installed.is_dir() else source


CARDS_DIR = _installed_or_source(_PACKAGE / "datasets", REPO_ROOT / "datasets")
CONFIGS_DIR = _installed_or_source(_PACKAGE / "configs", REPO_ROOT / "configs")


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
