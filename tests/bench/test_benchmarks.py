"""The benchmark suite's arithmetic on fixed inputs (its timings are never tested)."""
from __future__ import annotations

import math

import pytest
from benchmarks import TrialRecord, best_curve, pruning_summary, ratio, search_vs_random, time_to_reach


def rec(end, score=None, state="COMPLETE", train=10.0, run=3, planned=3, skipped=False):
    return TrialRecord(end, state, score, train, skipped, run, planned)


DEFAULT = [rec(10, 50.0), rec(20, 8.0), rec(25, None, "PRUNED", 3.0, 1), rec(30, 4.0)]
RANDOM = [rec(10, 30.0), rec(20, 9.0), rec(40, 6.0)]


def test_best_curve_and_time_to_reach():
    assert best_curve(DEFAULT) == [(10, 50.0), (20, 8.0), (30, 4.0)]
    assert time_to_reach(DEFAULT, 6.0) == 30  # first time the best is <= 6
    assert time_to_reach(DEFAULT, 8.0) == 20
    assert time_to_reach(DEFAULT, 1.0) == math.inf


def test_search_vs_random_medians_over_seeds():
    slow = [rec(100, 6.0)]  # this seed's default needs 100 s to match random's best (40 s total)
    out = search_vs_random([(DEFAULT, RANDOM), (DEFAULT, RANDOM), (slow, RANDOM)])
    assert out["seeds"] == 3
    assert out["time_ratios"] == [30 / 40, 30 / 40, 100 / 40]
    assert out["median_time_to_random_best_ratio"] == pytest.approx(0.75)
    assert out["median_best_score_ratio"] == pytest.approx(4.0 / 6.0)
    assert out["median_default_seconds"] == 30 and out["median_random_seconds"] == 40


def test_pruning_summary_extrapolates_stopped_trials():
    pruned = [rec(10, 5.0, train=9.0), rec(12, None, "PRUNED", 3.0, run=1, planned=3),
              rec(13, None, "PRUNED", 0.0, run=0, planned=3, skipped=True)]
    unpruned = [rec(10, 5.0), rec(20, 7.0), rec(30, 6.0)]
    s = pruning_summary([pruned], [unpruned])
    assert s["share_stopped"] == pytest.approx(2 / 3)
    # spent 9 + 3 + 0 = 12; would have spent 9 + 3*3 + 9 (mean complete time) = 27
    assert s["saved_fraction"] == pytest.approx(1 - 12 / 27)
    assert s["median_best_ratio"] == pytest.approx(1.0)


def test_ratio():
    assert ratio(1.0, 4.0) == 0.25 and ratio(1.0, 0.0) == math.inf
