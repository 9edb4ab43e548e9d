"""Test isolation: offline, no writes into HOME, deterministic threads.

Real-data tests read ``LEUKOSCAN_SHARED_DATA`` or ``../shared/data`` and skip when it
is absent (a fresh machine); CI sets it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="leukoscan-tests-"))
_ENV = {
    "YOLO_OFFLINE": "1",
    "YOLO_CONFIG_DIR": str(_TMP / "ultralytics"),
    "WANDB_MODE": "offline",
    "WANDB_DIR": str(_TMP / "wandb"),
    "WANDB_CACHE_DIR": str(_TMP / "wandb-cache"),
    "WANDB_CONFIG_DIR": str(_TMP / "wandb-config"),
    "WANDB_SILENT": "true",
    "MPLCONFIGDIR": str(_TMP / "mpl"),
    "TORCH_HOME": str(_TMP / "torch"),
    "HF_HUB_OFFLINE": "1",
    "LEUKOSCAN_OFFLINE": "1",
    # One torch thread: CI boxes are small and often shared; oversubscribed threads made
    # training steps 3-4x slower there (measured).
    "LEUKOSCAN_THREADS": "1",
    "LEUKOSCAN_RUNS": str(_TMP / "runs"),
}
for _k, _v in _ENV.items():
    os.environ.setdefault(_k, _v)
for _k in ("YOLO_CONFIG_DIR", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "MPLCONFIGDIR"):
    Path(os.environ[_k]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to the real datasets; skips the test when they are not on this machine."""
    from leukoscan.paths import shared_data as _find

    root = _find()
    if root is None:
        pytest.skip("real data folder not present (set LEUKOSCAN_SHARED_DATA)")
    return root


def _load_script(folder: str, name: str):
    """``<repo>/<folder>/<name>.py`` imported as a module (benchmarks are scripts, not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{folder}_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def tool():
    """``tool("infer").main([...])``: the command ``tools/<name>.py`` (``leukoscan.tools.<name>``)."""
    import importlib

    return lambda name: importlib.import_module(f"leukoscan.tools.{name}")


@pytest.fixture(scope="session")
def bench():
    """``bench("augment_ablation").paired_stats(...)``: a ``benchmarks/*.py`` script imported as a module."""
    return lambda name: _load_script("benchmarks", name)
