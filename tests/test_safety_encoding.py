"""Slide names are user data: encoded for every place they land (links, CSV cells, file names).

One ``infer`` run over slides named like attacks and like accidents; then report.html's links
must be relative, percent-encoded and lead to the files; no CSV cell may start like a
spreadsheet formula; a name too long for the file system is shortened with a hash; and
write failures (disk full) fail one slide while the batch goes on.
"""

from __future__ import annotations

import csv
import errno
import html
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from detect_fixtures import make_untrained_models
from PIL import Image

from leukoscan.encode import csv_cell, csv_uncell, href, read_csv_dicts, short_name
from leukoscan.synthetic import make_smear

NAMES = [
    "javascript:document.body.setAttribute('data-pwned',1);x=1+.jpg",
    "a#b.png",
    "c?d.png",
    "e%41.png",
    "=HYPERLINK(1).png",
    "+1.png",
    "-2.png",
    "@cmd.png",
    "\tt.png",
    "L" * 240 + ".png",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_untrained_models(tmp_path_factory.mktemp("enc_models"))


@pytest.fixture(scope="module")
def batch(models, tmp_path_factory):
    from leukoscan.tools import infer

    root = tmp_path_factory.mktemp("enc")
    (root / "in").mkdir()
    for i, name in enumerate(NAMES):
        Image.fromarray(make_smear(64, 80, seed=i).image).save(
            root / "in" / name, format="JPEG" if name.endswith(".jpg") else "PNG"
        )
    code = infer.main(
        [
            str(root / "in"),
            "--detector",
            models["det"],
            "--classifier",
            models["clf"],
            "--tile",
            "off",
            "--out",
            str(root / "out"),
        ]
    )
    return root / "out", code


def test_every_slide_is_processed(batch):
    out, code = batch
    assert code == 0
    assert len(json.loads((out / "summary.json").read_text())["slides"]) == len(NAMES)
    assert all(len(p.name.encode()) <= 255 for p in out.rglob("*"))


def test_report_links_are_relative_encoded_and_resolve(batch):
    out, _ = batch
    page = (out / "report.html").read_text()
    links = [html.unescape(x) for x in re.findall(r'(?:href|src)="([^"]*)"', page)]
    assert len(links) >= 4 * len(NAMES)
    for link in links:
        if re.fullmatch(r"#slide-\d+", link):  # in-page anchor of a slide's review section
            continue
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc and not parts.query and not parts.fragment, link
        assert (out / unquote(parts.path)).is_file(), link
    assert "javascript:" not in "".join(links)


def test_no_csv_cell_starts_like_a_formula(batch):
    out, _ = batch
    for path in out.rglob("*.csv"):
        with open(path, newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (path.name, cell)
    keys = [r[0] for r in csv.reader(open(out / "summary.csv", newline=""))][1:]
    assert "'=HYPERLINK(1).png" in keys and "'-2.png" in keys


def test_encoders():
    for s in ["=1", "'=1", "''+x", "plain", "-", "'"]:
        assert csv_uncell(csv_cell(s)) == s
    assert csv_cell(-3) == -3 and csv_cell("-3") == "'-3"
    assert href("a/javascript:x#y?z%.png") == "a/javascript%3Ax%23y%3Fz%25.png"
    with pytest.raises(ValueError):
        href("/etc/passwd")
    long = short_name("é" * 200)
    assert len(long.encode()) <= 180 and long != short_name("é" * 201)


def test_manifest_saved_by_excel_is_read(tmp_path, models):
    """BOM + CRLF: the header is a header, not a file name."""
    from leukoscan.pipeline.batch.inputs import read_manifest

    Image.fromarray(make_smear(64, 80, seed=1).image).save(tmp_path / "s.png")
    (tmp_path / "m.csv").write_bytes("\ufeffpath,note\r\ns.png,x\r\n".encode())
    files, failures = read_manifest(tmp_path / "m.csv")
    assert files == [tmp_path / "s.png"] and failures == []
    (tmp_path / "t.csv").write_bytes("\ufefffile,label\r\n'=x,1\r\n".encode())
    assert read_csv_dicts(tmp_path / "t.csv") == [{"file": "=x", "label": "1"}]


def test_disk_full_fails_one_slide_and_the_batch_goes_on(tmp_path, models, monkeypatch, capsys):
    from leukoscan.pipeline.report import slide_report as report
    from leukoscan.tools import infer

    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(make_smear(64, 80, seed=1).image).save(tmp_path / "in" / name)
    real = report.save_annotated

    def full(path, *a, **kw):
        if "b_annotated" in Path(path).name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(report, "save_annotated", full)
    code = infer.main(
        [
            str(tmp_path / "in"),
            "--detector",
            models["det"],
            "--classifier",
            models["clf"],
            "--tile",
            "off",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "FAILED" in err and "No space left on device" in err and "Traceback" not in err
    slides = json.loads((tmp_path / "out" / "summary.json").read_text())["slides"]
    assert sorted(s["image"] for s in slides) == ["a.png", "c.png"]
    assert not list((tmp_path / "out").glob("b_*"))
