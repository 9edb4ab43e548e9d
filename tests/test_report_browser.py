"""report.html in a real headless browser (Chromium): it renders, and its sort works.

Marked ``browser``; skipped when no ``chromium`` (or ``chromium-browser``, ``google-chrome``)
is on PATH. Debian: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from standins import TruthDetector, write_smear

from leukoscan.pipeline.batch.runner import run_batch
from leukoscan.pipeline.infer.cascade import Pipeline
from leukoscan.pipeline.infer.settings import PipelineConfig

pytestmark = pytest.mark.browser

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class ScriptedClassifier:
    """P(blast) per slide from a script: slide k gets ``PLAN[k]`` for its 4 cells."""

    name = "scripted-standin"
    class_names = ("blast", "normal")
    PLAN = [[0.9, 0.2, 0.1, 0.1], [0.95, 0.9, 0.8, 0.7], [0.1, 0.1, 0.2, 0.3]]  # 25%, 100%, 0%

    class preprocess:  # noqa: N801
        input_size = 32

    def __init__(self) -> None:
        self.k = 0

    def predict_proba(self, crops):
        p = np.array(self.PLAN[self.k % 3][: len(crops)], np.float32)
        self.k += 1
        return np.stack([p, 1 - p], axis=1)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    for name in ("a", "b", "c"):
        write_smear(tmp / "in" / f"{name}.jpg", size=(240, 320))
    from PIL import Image

    Image.fromarray(np.full((240, 320, 3), 228, np.uint8)).save(tmp / "in" / "d_empty.jpg")
    pipe = Pipeline(TruthDetector(), ScriptedClassifier(), PipelineConfig())
    run_batch(pipe, [tmp / "in"], tmp / "out")
    return tmp / "out" / "report.html"


def test_report_renders_in_chromium(report):
    from PIL import Image

    shot = report.parent / "report.png"
    r = _chromium(f"--screenshot={shot}", "--window-size=1400,1800", report.as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (1800, 1400)
    assert img.std() > 10  # not a blank page
    # thumbnails drawn: the purple of synthetic nuclei / coloured boxes appear in the page
    blue = (img[..., 2] > 180) & (img[..., 0] < 80)
    red = (img[..., 0] > 180) & (img[..., 1] < 60) & (img[..., 2] < 60)
    assert blue.sum() > 50 and red.sum() > 50


def test_report_sorts_by_blast_pct_in_chromium(report):
    r = _chromium("--dump-dom", report.as_uri() + "#sort=blast_pct")
    assert r.returncode == 0, r.stderr[-2000:]
    body = r.stdout.split("<tbody>", 1)[1]
    keys = re.findall(r'<td data-sort="([^"]+)"><a href="#slide-\d+"><b>', body)
    assert keys == ["b.jpg", "a.jpg", "c.jpg", "d_empty.jpg"]  # 100%, 25%, 0%, n/a last


def test_review_gallery_sorted_by_uncertainty(report):
    """Each slide's section shows its cell crops, the blast probability nearest 0.5 first."""
    html = report.read_text()
    a = html.split('id="slide-1"', 1)[1].split("</section>", 1)[0]  # a.jpg: P(blast) 0.9, 0.2, 0.1, 0.1
    assert re.findall(r'data-cell="(\d+)"', a) == ["2", "1", "3", "4"]
    assert "#2 normal 0.80" in a and 'src="crops/a.jpg"' in a
    d = html.split('id="slide-4"', 1)[1].split("</section>", 1)[0]  # d_empty.jpg: no cells, no gallery
    assert "data-cell" not in d and "no leukocytes" in d
    row = re.search(r'<tr class="([^"]*)">\s*<td data-sort="d_empty.jpg"', html)
    assert row and "review" in row.group(1).split()  # a slide with 0 leukocytes is a highlighted review row
