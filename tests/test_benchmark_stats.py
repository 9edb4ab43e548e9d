"""Statistics used by the benchmark scripts (pure functions; nothing is trained)."""

from __future__ import annotations

import pytest


def test_paired_stats_known_values(bench):
    st = bench("augment_ablation").paired_stats([1.0, 2.0, 3.0])
    assert st["mean"] == 2.0 and st["sd"] == pytest.approx(1.0)
    half = 4.302652729911275 / 3**0.5  # t(0.975, df 2) * sd / sqrt(n)
    assert st["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert st["p_signflip"] == pytest.approx(2 / 8)  # only all-plus and all-minus reach |sum| 6
    assert (st["wins"], st["losses"]) == (3, 0)


def test_paired_stats_symmetric_differences_are_not_significant(bench):
    paired_stats = bench("augment_ablation").paired_stats
    st = paired_stats([0.01, -0.01, 0.02, -0.02])
    assert st["mean"] == pytest.approx(0.0) and st["p_signflip"] == 1.0
    assert st["ci95"][0] < 0 < st["ci95"][1]
    assert paired_stats([0.5])["n"] == 1  # one pair: a mean, no interval
