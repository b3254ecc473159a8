"""The evidence suite's arithmetic on fixed inputs (its timings are never tested)."""
from __future__ import annotations

import math

import pytest
from benchmarks import (
    SkipDecision,
    TrialRecord,
    best_curve,
    evenly_spaced,
    four_arms,
    pruning_measured,
    safe_margin,
    skip_audit,
    skip_decisions,
    time_to_reach,
)


def rec(end, score=None, state="COMPLETE", start=None, cost=1.0, px=None, skipped=False):
    px = math.log(score / cost) if px is None and score is not None else px
    return TrialRecord(end, state, score, cost, px, end - 10 if start is None else start, skipped)


RANDOM = [rec(10, 30.0), rec(20, 9.0), rec(40, 6.0), rec(50, 7.0)]  # its target: 6.0, reached at 40 s
FAST = [rec(10, 50.0), rec(15, None, "PRUNED"), rec(20, 5.0)]  # reaches 6.0 at 20 s
NEVER = [rec(10, 8.0), rec(60, 7.0)]


def test_best_curve_and_time_to_reach():
    assert best_curve(RANDOM) == [(10, 30.0), (20, 9.0), (40, 6.0)]
    assert time_to_reach(RANDOM, 6.0) == 40
    assert time_to_reach(NEVER, 6.0) == math.inf


def test_time_to_target_is_against_randoms_own_time_so_a_copy_of_random_scores_one():
    out = four_arms({"random": [RANDOM, RANDOM], "copy": [list(RANDOM), list(RANDOM)], "fast": [FAST, NEVER]})
    assert out["copy"]["time_ratio_per_seed"] == [1.0, 1.0]  # not 40 / 50 (random's total time)
    assert out["fast"]["time_ratio_per_seed"] == [0.5, math.inf]
    assert out["fast"]["reached_share"] == 0.5
    assert out["fast"]["time_ratio_median"] == math.inf  # never-reached seeds count as infinity
    assert out["fast"]["best_ratio_per_seed"] == [5.0 / 6.0, 7.0 / 6.0]
    assert out["random"]["wall_s_median"] == 50


def test_pruning_savings_are_the_measured_wall_times():
    m = pruning_measured([FAST], [RANDOM])
    assert m["wall_s_with"] == [20] and m["wall_s_without"] == [50]
    assert m["saved_share_median"] == pytest.approx(0.6)
    assert m["stopped_share"] == pytest.approx(1 / 3)
    assert m["best_ratio_per_seed"] == [5.0 / 6.0]


def test_skip_decisions_see_only_trials_complete_when_a_trial_started():
    # trial 3 started at 15 s, while trial 2 (ends 20 s) was still running: it sees trial 1 only
    recs = [rec(10, 30.0, start=0, cost=3.0), rec(20, 9.0, start=10, cost=1.0), rec(25, 4.0, start=15, cost=2.0)]
    d = skip_decisions(recs)
    assert [(x.best_before, x.score) for x in d] == [(30.0, 9.0), (30.0, 4.0)]
    assert d[0].min_error_before == pytest.approx(math.log(10.0))


def test_the_skip_bound_and_its_safe_margin():
    # lowest error seen 3.0 px, best 20; a cost-1 trial ending at 2.0 px scores e^2 = 7.39 < 20: a winner
    winner = SkipDecision(cost=1.0, best_before=20.0, min_error_before=3.0, score=math.exp(2.0), px_error=2.0)
    loser = SkipDecision(cost=10.0, best_before=20.0, min_error_before=3.0, score=10 * math.exp(3.5), px_error=3.5)
    # the winner is skipped when exp(3 - m) >= 20, i.e. m <= 3 - ln 20 = 0.0043
    assert winner.skipped(0.0) and not winner.skipped(0.01)
    assert safe_margin([winner, loser]) == pytest.approx(3.0 - math.log(20.0))
    assert safe_margin([loser]) == 0.0
    rows = skip_audit([winner, loser], [0.0, 1.0])
    assert rows == [{"margin_px": 0.0, "decisions": 2, "winners": 1, "would_skip": 2, "false_skips": 1},
                    {"margin_px": 1.0, "decisions": 2, "winners": 1, "would_skip": 1, "false_skips": 0}]


def test_evenly_spaced_takes_both_ends():
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(3, 5) == [0, 1, 2]
    assert evenly_spaced(5, 1) == [0]
