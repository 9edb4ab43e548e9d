"""Honest slide numbers (issue 21): minimum cells, call uncertainty in the interval, flag rule."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from scipy.stats import beta

from leukoscan.errors import ConfigError
from leukoscan.pipeline.report.slide_report import cell_rows
from leukoscan.pipeline.report.slide_stats import blast_interval, poisson_binomial
from leukoscan.pipeline.report.summary import SlideRules, summarize


def _cells(probs, threshold=0.5, call_by="classifier"):
    p = np.asarray(probs, np.float32)
    n = len(p)
    xy = np.array([[10 * i, 0, 10 * i + 8, 8] for i in range(n)], np.float32).reshape(-1, 4)
    return sv.Detections(
        xyxy=xy,
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.zeros(n, int),
        data={
            "class_name": np.array(["WBC"] * n, dtype=object),
            "cell_class": np.where(p >= threshold, "blast", "normal").astype(object),
            "blast_prob": p,
            "call_by": np.array([call_by] * n, dtype=object),
            "det_blast": np.zeros(n, np.float32),
        },
    )


def test_poisson_binomial_matches_binomial_and_certain_calls():
    assert np.allclose(poisson_binomial(np.full(4, 0.5)), [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16])
    assert np.allclose(poisson_binomial(np.array([1.0, 0.0, 1.0])), [0, 0, 1, 0])


def test_interval_is_jeffreys_for_certain_calls_and_wider_for_unsure_ones():
    lo, hi = blast_interval(np.array([1.0] * 5 + [0.0] * 15))
    assert lo == pytest.approx(beta.ppf(0.025, 5.5, 15.5), abs=1e-3)
    assert hi == pytest.approx(beta.ppf(0.975, 5.5, 15.5), abs=1e-3)
    lo2, hi2 = blast_interval(np.array([0.8] * 5 + [0.2] * 15))  # same calls, less sure
    assert hi2 - lo2 > hi - lo and hi2 > hi


def test_one_cell_is_insufficient_not_flag():
    """The BCCD case of the issue: one cell called blast read "100.0% [20.6, 100.0] FLAG"."""
    s = summarize(_cells([0.9]), image="a", image_hw=(480, 640))
    assert (s.status, s.flagged, s.blast_pct) == ("insufficient cells", False, 100.0)
    assert s.blast_pct_ci95[0] < 20 and s.review and s.min_cells == 12
    assert "1 leukocyte, 1 blast," in s.words() and "REVIEW: insufficient cells" in s.words()


def test_flag_rules_point_lower_and_borderline():
    probs = [0.95] * 4 + [0.05] * 12  # 25% blasts in 16 cells: lower bound below 20%
    s = summarize(_cells(probs), image="a", image_hw=(9, 9))
    assert s.blast_pct == 25.0 and s.blast_pct_ci95[0] < 20 and (s.status, s.flagged) == ("borderline", False)
    s = summarize(_cells(probs), image="a", image_hw=(9, 9), rules=SlideRules(flag_rule="point"))
    assert (s.status, s.flagged) == ("FLAG", True)
    s = summarize(_cells([0.95] * 10 + [0.05] * 10), image="a", image_hw=(9, 9))
    assert (s.status, s.flagged) == ("FLAG", True) and s.blast_pct_ci95[0] >= 20
    s = summarize(_cells([0.05] * 20), image="a", image_hw=(9, 9))
    assert s.status == "clear" and not s.review


def test_uncertain_cells_counted_and_marked():
    det = _cells([0.55, 0.9, 0.4, 0.1] * 4)
    s = summarize(det, image="a", image_hw=(9, 9))
    assert s.uncertain == 8 and s.review and ", 8 uncertain," in s.words()
    rows = cell_rows(det)
    assert [r["review"] for r in rows[:4]] == ["uncertain", "", "uncertain", ""]


def test_not_assessed_is_empty_not_zero():
    det = _cells([np.nan] * 3, call_by="count")
    det.data["cell_class"] = np.array(["leukocyte"] * 3, dtype=object)
    s = summarize(det, image="a", image_hw=(9, 9), call_by="count")
    assert (s.blasts, s.blast_pct, s.uncertain, s.status) == (None, None, None, "not assessed")
    assert s.words() == "3 leukocytes, blasts not assessed"
    rows = cell_rows(det)
    assert rows[0]["blast_prob"] is None and rows[0]["det_blast"] is None and rows[0]["review"] == ""


def test_bad_rule_values_are_config_errors():
    with pytest.raises(ConfigError, match="min_cells"):
        SlideRules(min_cells=0)
    with pytest.raises(ConfigError, match="flag_rule"):
        SlideRules(flag_rule="upper")


def test_detector_only_count_writes_not_assessed_everywhere(tmp_path):
    """--no-classifier with a WBC-only detector: blasts are empty / "not assessed", never 0."""
    import csv
    import json

    from standins import TruthDetector, write_smear

    from leukoscan.pipeline.batch.runner import run_batch
    from leukoscan.pipeline.infer.cascade import Pipeline
    from leukoscan.pipeline.infer.settings import PipelineConfig

    write_smear(tmp_path / "in" / "a.png")
    res = run_batch(Pipeline(TruthDetector(), None, PipelineConfig()), [tmp_path / "in"], tmp_path / "out")
    s = res.summaries[0]
    assert s.leukocytes == 4 and s.blasts is None and s.status == "not assessed" and not s.flagged
    row = next(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert row["blasts"] == "" and row["blast_pct"] == "" and row["flagged"] == "0"
    cells = list(csv.DictReader((tmp_path / "out" / "a_cells.csv").open()))
    assert {c["blast_prob"] for c in cells} == {""} and {c["det_blast"] for c in cells} == {""}
    totals = json.loads((tmp_path / "out" / "summary.json").read_text())["totals"]
    assert totals["blasts"] is None and totals["blast_pct_pooled"] is None
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("not assessed") >= 3 and ">0 blasts<" not in html
