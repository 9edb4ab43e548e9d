"""A CSV manifest of slide paths as a batch input (both engines read inputs through app.inputs)."""

from __future__ import annotations

from leukoscan.pipeline.batch.inputs import expand_inputs


def test_csv_manifest_lists_files_relative_to_itself(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"x")
    (tmp_path / "y.jpg").write_bytes(b"y")
    (tmp_path / "m.csv").write_text("patient,path\np1,a/x.png\np2,y.jpg\np3,missing.png\n")
    files, failures = expand_inputs([tmp_path / "m.csv"])
    assert files == [tmp_path / "a" / "x.png", tmp_path / "y.jpg"]
    assert failures == [(str(tmp_path / "missing.png"), "no such file (listed in manifest)")]
    (tmp_path / "plain.csv").write_text(f"{tmp_path / 'y.jpg'}\n")  # no header: the first column
    assert expand_inputs([tmp_path / "plain.csv"])[0] == [tmp_path / "y.jpg"]
