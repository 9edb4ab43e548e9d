"""A plain (non-editable) install works: build a wheel, install it into a fresh virtual
environment, run the console script on a synthetic smear (slow: ~1 min).

The fresh environment gets the heavy dependencies (torch, ultralytics, ...) from the
test's own environment through a ``.pth`` line appended after its own site-packages
(what ``--system-site-packages`` would do, without the registry); LeukoScan itself comes
only from the wheel. The commands run from an empty folder, so the checkout is not on
``sys.path``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from detect_fixtures import NAMES
from PIL import Image

from leukoscan.synthetic import make_smear

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".ci",
    "runs",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "wandb",
    "results",
    "tmp",
)


def _run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.slow
def test_wheel_in_fresh_venv(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    for d in (src / "datasets").iterdir():  # raw data folders are not part of the source
        if d.is_dir():
            shutil.rmtree(d)
    r = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("leukoscan-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    top = ("detect", "classify", "pipeline", "tools", "experiments", "tests", "benchmarks")
    assert not [n for n in names if n.split("/")[0] in top], names[:20]
    for f in (
        "leukoscan/detect/backends/yolo.py",
        "leukoscan/pipeline/infer/cascade.py",
        "leukoscan/tools/infer.py",
        "leukoscan/tools/cli.py",
        "leukoscan/experiments/seed_table.py",
        "leukoscan/configs/detect_bccd_yolov8n.yaml",
        "leukoscan/datasets/README.md",
    ):
        assert f in names, f

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    py, exe = venv / "bin" / "python", venv / "bin" / "leukoscan"
    r = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    site = Path(
        _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    for name in ("detect", "classify", "pipeline", "tools"):
        r = _run([str(py), "-c", f"import {name}"], work)
        assert r.returncode != 0 and "No module named" in r.stderr, name
    r = _run(
        [
            str(py),
            "-c",
            "import leukoscan.detect, leukoscan.paths as p; print(leukoscan.detect.__file__);print(p.CONFIGS_DIR)",
        ],
        work,
    )
    assert r.returncode == 0 and str(site) in r.stdout and str(ROOT) not in r.stdout, r.stdout + r.stderr

    from leukoscan import classify, detect

    det = detect.build(
        "fasterrcnn_mobilenet_v3_large_fpn",
        num_classes=3,
        class_names=NAMES,
        pretrained=False,
        imgsz=64,
        rois_per_image=16,
    )
    det.save(work / "det.pt")
    clf = classify.build("handcrafted+svm", class_names=("blast", "normal"), imgsz=32, pretrained=False)
    crops = [make_smear(40, 40, seed=i, n_leukocytes=1).image for i in range(12)]
    clf.fit(crops, [i % 2 for i in range(12)])
    (work / "clf").mkdir()
    clf.save(work / "clf")
    Image.fromarray(make_smear(96, 128, seed=3).image).save(work / "smear.png")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEUKOSCAN_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(tmp_path / "ul"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "LEUKOSCAN_THREADS": "1",
    }
    r = _run(
        [
            str(exe),
            "infer",
            "smear.png",
            "--detector",
            "det.pt",
            "--classifier",
            "clf",
            "--out",
            "out",
            "--conf",
            "0.0",
            "--tile",
            "off",
        ],
        work,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert [s["image"] for s in summary["slides"]] == ["smear.png"] and (work / "out" / "report.html").is_file()

    # fresh install, no trained run: the bundled detector answers and is named (banner + provenance)
    from leukoscan.bundled import bundled_names

    for n in bundled_names("detector"):
        assert f"leukoscan/weights/{n}.pt" in names and f"leukoscan/weights/{n}.card.json" in names
    if bundled_names("detector"):
        r = _run([str(exe), "infer", "smear.png", "--out", "out_bundled"], work, env=env)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
        assert "BUNDLED detector" in r.stderr
        det_src = json.loads((work / "out_bundled" / "summary.json").read_text())["provenance"]["detector"]
        assert det_src["chosen"].startswith("bundled") and det_src["weights"].startswith(str(site))
    r = _run([str(py), "-c", "import leukoscan.paths as p; print(p.CARDS_DIR)"], work)
    assert r.returncode == 0 and str(site) in r.stdout, r.stdout + r.stderr
    r = _run([str(exe), "train-detector", "--list-models"], work, env=env)
    assert r.returncode == 0 and "yolov8n" in r.stdout
    r = _run([str(exe), "train-detector", "--data", "all_idb1", "--data-root", str(tmp_path / "none")], work, env=env)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: all_idb1: not found"), r.stderr[-2000:]
