"""The Python API imports from the folder that holds a checkout named ``leukoscan`` (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_api_imports_from_the_folder_holding_the_checkout(tmp_path):
    (tmp_path / "leukoscan").symlink_to(ROOT, target_is_directory=True)  # as after `git clone .../leukoscan`
    code = (
        "from leukoscan.pipeline.report.summary import summarize\n"
        "from leukoscan.pipeline.infer.cascade import load_pipeline\n"
        "from leukoscan.io import read_image\n"
        "from leukoscan.runs import weights_file\n"
        "from leukoscan.detect.registry import DETECTORS\n"
        "import leukoscan; print(leukoscan.__version__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == __import__("leukoscan").__version__
