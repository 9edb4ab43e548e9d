"""What machine and checkout produced a result: the git commit of the running code and the
CPU / torch facts every benchmark file records (one home for both)."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


@functools.cache
def git_commit() -> str | None:
    """Commit of the checkout the package runs from (``+dirty`` with local changes), or None."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def machine_info() -> dict[str, Any]:
    """CPU, cores, torch threads and version, Python, commit: the header of a benchmark result."""
    import torch  # heavy: only benchmarks ask for this

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": git_commit() or "",
    }


__all__ = ["git_commit", "machine_info"]
