"""Proxy fidelity without retraining: which trials are chosen (top, spread over cost, random) from a real
in-memory study, and the bootstrap intervals of the rank correlations."""
from __future__ import annotations

import math
import random

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nas.deploy.fidelity import (
    bootstrap_interval,
    correlations,
    kendall_tau,
    paired_difference_interval,
    proxy_quality_line,
    score_tau_line,
    select_trials,
    spearman_rho,
)
from nas.errors import ConfigError, StudyError

optuna.logging.set_verbosity(optuna.logging.WARNING)

# trial number -> cost, inserted out of cost order; px error is lowest mid-range, so the best scores are
# neither the cheapest (number 3) nor the dearest (number 6)
COSTS = [0.5, 0.9, 0.3, 0.1, 0.7, 0.4, 1.0, 0.2, 0.8, 0.6]


def _trial(cost: float, px: float):
    attrs = {"arch": {"backbone": "mobilenetv3_small", "backbone_width": 0.5, "head_depth": 1, "head_width": 0.25,
                      "input_size": 64, "num_keypoints": 21},
             "gflops": cost, "mparams": 1.0, "cost": cost, "px_error": px, "score": cost * math.exp(px)}
    return create_trial(value=attrs["score"], user_attrs=attrs)


@pytest.fixture()
def study() -> optuna.Study:
    st = optuna.create_study(study_name="costs")
    st.add_trials([_trial(c, 5.0 + 30 * (c - 0.55) ** 2) for c in COSTS])
    st.add_trial(create_trial(state=TrialState.FAIL))  # never chosen
    return st


# by proxy score the trials rank 0, 9, 5, 4, 2, 8, 7, 1, 3, 6; by cost 3, 7, 2, 5, 0, 9, 4, 8, 1, 6


def test_spread_picks_cheapest_and_dearest_after_the_top_and_never_repeats(study):
    assert select_trials(study, 2, 0) == [0, 9]
    chosen = select_trials(study, 2, 0, spread=4)  # cost positions 0, 3, 6, 9
    assert chosen == [0, 9, 3, 5, 4, 6]
    assert {3, 6} <= set(chosen[2:])  # cheapest and dearest
    everything = select_trials(study, 2, 5, spread=20)  # more than there are: each trial once
    assert sorted(everything) == list(range(10)) and everything[:2] == [0, 9]


def test_spread_gives_way_to_the_nearest_untaken_neighbour(study):
    # cost positions 0, 4.5 -> 4 (trial 0, already a top trial: its cheaper neighbour 5 instead), 9
    assert select_trials(study, 2, 0, spread=3) == [0, 9, 3, 5, 6]
    # the top 9 hold the cheapest: the first spread pick moves to the only one left, the second finds none
    assert select_trials(study, 9, 0, spread=2) == [0, 9, 5, 4, 2, 8, 7, 1, 3, 6]
    # spread then random: the draw only sees what is left
    chosen = select_trials(study, 1, 4, spread=2, seed=3)
    assert chosen[:3] == [0, 3, 6] and len(set(chosen)) == 7


def test_random_draw_without_spread_is_unchanged_and_fewer_than_two_is_an_error(study):
    ranked = select_trials(study, 10, 0)
    assert select_trials(study, 2, 3, seed=5) == ranked[:2] + random.Random(5).sample(ranked[2:], 3)
    with pytest.raises(StudyError, match="at least 2 trials"):
        select_trials(study, 1, 0)


def test_bootstrap_interval_of_a_perfect_ranking_is_one():
    a = [0.3, 1.0, 2.5, 4.0, 7.0, 11.0]
    b = [10 * x + 1 for x in a]
    for fn in (kendall_tau, spearman_rho):
        assert bootstrap_interval(a, b, fn, n_boot=300) == pytest.approx((1.0, 1.0))


def test_bootstrap_interval_is_pinned_and_contains_the_estimate():
    a = list(range(12))
    b = [1, 0, 3, 2, 6, 4, 5, 9, 7, 8, 11, 10]
    lo, hi = bootstrap_interval(a, b, kendall_tau, n_boot=500, seed=0)
    assert (lo, hi) == pytest.approx((0.5895, 0.9649), abs=1e-4)  # computed once; numpy's default_rng is stable
    assert lo < kendall_tau(a, b) < hi < 1.0
    assert bootstrap_interval(a, b, kendall_tau, n_boot=500, seed=0) == (lo, hi)  # seeded: reproducible
    assert bootstrap_interval(a, b, kendall_tau, n_boot=500, seed=1) != (lo, hi)


def test_bootstrap_interval_needs_three_architectures_and_some_variation():
    assert all(math.isnan(v) for v in bootstrap_interval([1, 2], [2, 1], kendall_tau))
    assert all(math.isnan(v) for v in bootstrap_interval([1, 2, 3], [5, 5, 5], kendall_tau))


def test_paired_difference_of_a_perfect_and_a_reversed_ranking_is_two_and_of_equal_ones_zero():
    truth = [0.3, 1.0, 2.5, 4.0, 7.0, 11.0]
    reversed_ = [-x for x in truth]
    assert paired_difference_interval(reversed_, truth, truth, kendall_tau, n_boot=300) == pytest.approx((2.0, 2.0))
    assert paired_difference_interval(truth, reversed_, truth, kendall_tau, n_boot=300) == pytest.approx((-2.0, -2.0))
    assert paired_difference_interval(truth, truth, truth, kendall_tau, n_boot=300) == (0.0, 0.0)
    with pytest.raises(ConfigError, match="paired values: 6, 6, 5"):
        paired_difference_interval(truth, truth, truth[:5], kendall_tau)


def test_paired_difference_interval_resamples_architectures_together():
    truth = list(range(12))
    a = [1, 0, 3, 2, 6, 4, 5, 9, 7, 8, 11, 10]  # the pinned ranking above: tau 0.79
    b = [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # one architecture far off: tau 0.67
    lo, hi = paired_difference_interval(a, b, truth, kendall_tau, n_boot=500, seed=0)
    assert lo < kendall_tau(b, truth) - kendall_tau(a, truth) < hi
    assert lo < 0 < hi  # neither ranks the truth better beyond the choice of architectures
    assert paired_difference_interval(a, b, truth, kendall_tau, n_boot=500, seed=0) == (lo, hi)


def test_correlations_carry_an_interval_for_each_figure():
    rng = np.random.default_rng(0)
    proxy_px = list(np.linspace(4, 9, 10))
    full_px = [x + float(rng.normal(0, 0.8)) for x in proxy_px]
    cost = list(np.geomspace(0.05, 5, 10))
    proxy_score = [c * math.exp(p) for c, p in zip(cost, proxy_px)]
    full_score = [c * math.exp(p) for c, p in zip(cost, full_px)]
    c = correlations(proxy_score, full_score, proxy_px, full_px, n_boot=300)
    assert c["n"] == 10 and c["ci_level"] == 0.95 and c["n_boot"] == 300
    for name in ("kendall_tau_score", "spearman_rho_score", "kendall_tau_error", "spearman_rho_error"):
        lo, hi = c[f"{name}_ci"]
        assert lo <= c[name] <= hi and -1 <= lo <= hi <= 1
    # the cost term helps the score: its interval sits above the error's
    assert c["kendall_tau_score"] > c["kendall_tau_error"]
    assert "cost_only_kendall_tau_error" not in c  # only with costs
    few = correlations([1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [4.0, 3.0])
    assert few["kendall_tau_score"] == 1.0 and all(math.isnan(v) for v in few["kendall_tau_score_ci"])


def test_the_cost_only_reference_ranks_by_cost_alone():
    cost = [0.1, 0.2, 0.4, 0.8, 1.6]
    full_px = [9.0, 8.0, 8.5, 6.0, 5.0]  # errors mostly fall with cost: one pair out of ten discordant
    full_score = [c * math.exp(p) for c, p in zip(cost, full_px)]
    proxy_px = [7.0, 7.1, 6.9, 7.0, 7.2]  # a proxy that knows nothing
    c = correlations([1.0, 2.0, 3.0, 4.0, 5.0], full_score, proxy_px, full_px, n_boot=200, cost=cost)
    assert c["cost_only_kendall_tau_error"] == pytest.approx(0.8)  # (9 - 1) / 10 pairs
    # here the error term outweighs cost in the score: 810, 596, 1966, 323, 237 -> 2 of 10 pairs concordant
    assert c["cost_only_kendall_tau_score"] == pytest.approx(-0.6)
    lo, hi = c["cost_only_kendall_tau_error_ci"]
    assert lo <= 0.8 <= hi
    assert c["kendall_tau_error"] < c["cost_only_kendall_tau_error"]


def test_tau_on_score_is_the_cost_only_tau_when_errors_barely_differ_and_is_labelled_so():
    rng = random.Random(4)
    cost = [0.1 * (i + 1) for i in range(10)]
    proxy_px = [55.0 + rng.uniform(-0.05, 0.05) for _ in cost]  # a blind proxy: noise only
    full_px = [20.0 + rng.uniform(-0.05, 0.05) for _ in cost]
    proxy_score = [k * math.exp(p) for k, p in zip(cost, proxy_px)]
    c = correlations(proxy_score, [k * math.exp(p) for k, p in zip(cost, full_px)], proxy_px, full_px, n_boot=200,
                     cost=cost)
    assert c["kendall_tau_score"] == pytest.approx(c["cost_only_kendall_tau_score"]) == 1.0  # by construction
    line = score_tau_line(c)
    assert line.startswith("tau on score 1.000 beside 1.000 for a ranking by cost alone: mostly cost")
    assert "not proxy quality" in line
    quality = proxy_quality_line(c)
    assert quality.startswith(f"proxy quality: Kendall tau on error {c['kendall_tau_error']:.3f} against "
                              f"{c['cost_only_kendall_tau_error']:.3f} for a ranking by cost alone")


def test_proxy_quality_is_error_against_cost_only():
    better = {"kendall_tau_error": 0.7, "cost_only_kendall_tau_error": 0.5}
    assert "above it, so the proxy orders errors better than model size" in proxy_quality_line(better)
    worse = {"kendall_tau_error": 0.21, "cost_only_kendall_tau_error": 0.52}
    assert "not above it, so the proxy orders errors no better than model size" in proxy_quality_line(worse)
    assert "no ranking by cost alone" in proxy_quality_line({"kendall_tau_error": 0.3})  # an older stored run
    assert proxy_quality_line({"kendall_tau_error": math.nan}).startswith("proxy quality: n/a")
    assert "beside n/a (not stored)" in score_tau_line({"kendall_tau_score": 0.9})
