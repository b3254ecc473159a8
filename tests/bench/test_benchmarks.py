"""The evidence suite's arithmetic on fixed inputs (its timings are never tested)."""
from __future__ import annotations

import json
import math

import pytest
from common.benchmarks import (
    TrialRecord,
    best_curve,
    evenly_spaced,
    four_arms,
    json_safe,
    pruning_measured,
    time_to_reach,
    training_saved,
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


def test_evenly_spaced_takes_both_ends():
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(3, 5) == [0, 1, 2]
    assert evenly_spaced(5, 1) == [0]


def test_training_saved_counts_passes_the_pruner_and_the_skip_kept_from_training():
    """Budgets are epochs x augmentation multiplier; a prune at epoch 1.25 of 2 with aug 2 leaves 1.5 passes."""
    study = [TrialRecord(10, "COMPLETE", 1.0, epochs=2, aug=1),                              # trains 2 of 2
             TrialRecord(20, "PRUNED", None, epochs=2, aug=2, pruned_at_epoch=1.25),        # 2.5 of 4
             TrialRecord(30, "PRUNED", None, epochs=2, aug=1, pruned_at_epoch=2.0),         # at its end: saves 0
             TrialRecord(31, "PRUNED", None, epochs=2, aug=3, skipped=True),                # 6 never started
             TrialRecord(32, "COMPLETE", 1.0, epochs=2, aug=3, duplicate=True)]             # a twin's result
    out = training_saved(study)
    assert out["pruning_saved_share"] == round(1.5 / (2 + 4 + 2), 4)
    assert out["skipped_budget_share"] == round(6 / (2 + 4 + 2 + 6), 4)
    assert out["pruned_at_last_report"] == 1
    assert training_saved([TrialRecord(1, "COMPLETE", 1.0, epochs=3)]) == {
        "pruning_saved_share": 0.0, "skipped_budget_share": 0.0, "pruned_at_last_report": 0}


def test_json_safe_writes_undefined_figures_as_null_and_infinity_as_a_string():
    """What every benchmark line goes through: json.dumps would write NaN and Infinity, which are not JSON."""
    value = {"tau": math.nan, "ratio": math.inf, "ci": (0.123456, math.nan), "n": 5, "per_seed": [[1 / 3]]}
    assert json_safe(value) == {"tau": None, "ratio": "inf", "ci": [0.1235, None], "n": 5, "per_seed": [[0.3333]]}
    json.dumps(json_safe(value), allow_nan=False)
