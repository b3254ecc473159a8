"""Proxy noise: the arithmetic on pinned numbers, baseline repeats in a study (enqueued once, trained
with another seed, never pruned, not ranked) and the study-level summary the report shows."""
from __future__ import annotations

import math
import random
import statistics

import optuna
import pytest
from fake_training import FIXED_SPACE, replay
from optuna.trial import TrialState, create_trial

import nas.search.proxy.modes as proxies_mod
from nas.deploy import ranked_trials
from nas.deploy.pick import pick
from nas.errors import NasError, StudyError
from nas.model.cost import score
from nas.report import leaderboard, summary, trials_frame
from nas.report.noise import repeat_groups, study_noise
from nas.report.page import _noise_html
from nas.search import enqueue_baselines, open_study, parse_space, run_study
from nas.search.noise import NOISE_ICC_FLOOR, icc1, icc1_interval, icc_verdict, noise_verdict, proxy_noise

FULL, REDUCED = "seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced"
CHEAPEST = "space_cheapest"


# --- the arithmetic -------------------------------------------------------------------------------
def test_proxy_noise_on_pinned_numbers():
    n = proxy_noise({"a": [1, 3], "b": [2, 2]}, [1, 2, 5, 8])
    assert n.within == pytest.approx(1.0)  # sqrt(mean(2, 0))
    assert n.across == pytest.approx(math.sqrt(10))  # sample std of 1, 2, 5, 8
    assert n.snr == pytest.approx(math.sqrt(10))  # the old rule (snr >= 2) called this "separates"...
    assert (n.groups, n.repeats) == (2, 4) and n.ranges == {"a": 2.0, "b": 0.0}
    # ...but the two repeated architectures have the same mean: none of the variance is architecture
    assert n.icc == pytest.approx(-1.0)  # MSB 0, MSW 1, k0 2: -MSW / ((k0 - 1) MSW)
    assert noise_verdict(n).startswith("the proxy cannot reliably tell candidates apart: only 0% of the error")


def test_icc_with_unequal_groups_by_hand():
    # means 3, 3, 10 (grand 25/6); MSB = 40.8333 / 2, MSW = 10 / 3, k0 = (6 - 14/6) / 2 = 1.8333
    msb, msw, k0 = 40.8333333 / 2, 10 / 3, (6 - 14 / 6) / 2
    assert icc1([[1, 3, 5], [2, 4], [10]]) == pytest.approx((msb - msw) / (msb + (k0 - 1) * msw))
    assert icc1([[1, 3, 5], [2, 4], [10]]) == pytest.approx(0.7365, abs=1e-4)
    assert math.isnan(icc1([[1, 3, 5]]))  # one group: nothing between architectures to measure
    assert math.isnan(icc1([[1], [2], [3]]))  # singletons only: no seed noise to measure
    assert math.isnan(icc1([[2, 2], [2, 2]]))  # no variance at all


def test_pure_noise_gives_an_icc_near_zero_and_cannot_tell_apart():
    rng = random.Random(0)
    # 8 architectures x 3 seeds, every error from one distribution: the architecture does not matter
    groups = {f"a{i}": [rng.gauss(20.0, 0.5) for _ in range(3)] for i in range(8)}
    n = proxy_noise(groups, [statistics.mean(v) for v in groups.values()])
    assert abs(n.icc) < 0.3
    assert noise_verdict(n).startswith("the proxy cannot reliably tell candidates apart")
    # the old ratio does not fall towards 0 with pure noise: its "across" spread is the noise itself
    many = [proxy_noise(g, [v[0] for v in g.values()]) for g in
            ({f"a{i}": [rng.gauss(0, 1) for _ in range(3)] for i in range(8)} for _ in range(200))]
    assert statistics.mean(x.snr for x in many) == pytest.approx(1.0, abs=0.15)
    assert statistics.mean(x.icc for x in many) == pytest.approx(0.0, abs=0.1)


def test_clearly_separated_groups_give_an_icc_near_one_and_separate():
    rng = random.Random(1)
    groups = {f"a{i}": [10.0 + 2 * i + rng.gauss(0, 0.05) for _ in range(3)] for i in range(6)}
    n = proxy_noise(groups, [statistics.mean(v) for v in groups.values()])
    assert n.icc > 0.99 and n.icc >= NOISE_ICC_FLOOR
    assert noise_verdict(n).startswith("the proxy separates candidates: 100% of the error variance is architecture")


def test_proxy_noise_needs_a_group_of_two():
    assert proxy_noise({}, [1.0, 2.0]) is None
    assert proxy_noise({"a": [1.0], "b": []}, [1.0, 2.0, 3.0]) is None
    assert proxy_noise({"a": [1.0, math.nan]}, [1.0, 2.0]) is None  # a failed run's NaN is left out
    n = proxy_noise({"a": [1.0, 3.0], "b": [4.0]}, [1.0, 5.0])  # b, with one value, is ignored
    assert (n.groups, n.repeats) == (1, 2) and n.within == pytest.approx(math.sqrt(2))
    assert math.isnan(n.icc)  # one repeated architecture: the variance cannot be split


def test_noise_verdicts_at_the_edges():
    noisy = proxy_noise({"a": [1, 3], "b": [2, 4]}, [1, 2])  # means 2 and 3 against a seed std of sqrt(2)
    assert noisy.snr == pytest.approx(0.5) and noisy.icc == pytest.approx(-1 / 3)
    assert noise_verdict(noisy) == ("not settled by 2 repeated architectures (4 trainings): 0% of the error variance "
                                    "is architecture, the rest seed noise (ICC -0.33, 95% interval [-0.97, 1.00], "
                                    "which spans 0.5); more repeated architectures or seeds narrow it")
    exact = proxy_noise({"a": [2, 2], "b": [3, 3]}, [1, 3])
    assert math.isinf(exact.snr) and exact.icc == 1.0 and noise_verdict(exact).startswith("no seed noise measured")
    lone = proxy_noise({"a": [1, 3]}, [2])
    assert math.isnan(lone.across) and math.isnan(lone.snr) and math.isnan(lone.icc)
    assert noise_verdict(lone).startswith("too few architectures measured with several seeds") and "n/a" in \
        noise_verdict(lone)
    half = proxy_noise({"a": [0.0, 2.0], "b": [2.0, 4.0], "c": [4.0, 6.0]}, [1, 3, 5])  # MSB 8, MSW 2, k0 2: 0.6
    assert half.icc == pytest.approx(0.6)  # above the floor, but 3 architectures x 2 seeds cannot settle it
    assert half.icc_ci == pytest.approx((-0.6009, 0.9873), abs=1e-4)
    assert noise_verdict(half).startswith("not settled by 3 repeated architectures (6 trainings): 60%")


def test_the_icc_interval_by_hand_and_its_coverage():
    """Shrout and Fleiss's interval on pinned numbers, then its coverage where the truth is known:
    4 architectures x 3 seeds (the suite's size) drawn with between- and within-architecture
    variances 1 and 1 (true ICC 0.5); a 95% interval holds 0.5 in about 95% of 2,000 draws (a
    2,000-draw estimate of 95% falls within 0.92-0.98 but for a 1-in-10,000 chance)."""
    from scipy.stats import f
    groups = [[0.0, 2.0], [2.0, 4.0], [4.0, 6.0]]  # MSB 8, MSW 2, a 3, N 6, k0 2
    fl, fu = 4 / f.ppf(0.975, 2, 3), 4 * f.ppf(0.975, 3, 2)
    assert icc1_interval(groups) == pytest.approx(((fl - 1) / (fl + 1), (fu - 1) / (fu + 1)))
    assert icc1_interval([[1.0], [2.0]]) is None and icc1_interval([[2.0, 2.0], [3.0, 3.0]]) is None
    rng = random.Random(3)
    hits = 0
    for _ in range(2000):
        draws = [[m + rng.gauss(0, 1) for _ in range(3)] for m in (rng.gauss(0, 1) for _ in range(4))]
        low, high = icc1_interval(draws)
        hits += low <= 0.5 <= high
    assert 0.92 <= hits / 2000 <= 0.98


def test_the_suite_run_that_read_separates_is_not_settled():
    """The suite's proxy repeats of 2026-12-04 (4 architectures x 3 seeds, errors within 0.32 px): ICC
    0.65, above the floor, which the run of 2026-11-30 (0.41) was below; the interval spans both."""
    errors = [[15.507, 15.468, 15.495], [15.482, 15.438, 15.49], [15.429, 15.19, 15.246], [15.456, 15.495, 15.497]]
    n = proxy_noise(dict(zip("abcd", errors)), [statistics.mean(e) for e in errors])
    assert n.icc == pytest.approx(0.645, abs=1e-3) and n.icc_ci[0] < 0.41 and n.icc_ci[1] > 0.65
    assert icc_verdict(n.icc, n.icc_ci) == "not settled" and icc_verdict(n.icc, None) == "separates"


# --- repeats in a study ---------------------------------------------------------------------------
def test_repeats_are_enqueued_once_for_the_first_k_allowed_baselines():
    space = parse_space({"space": {"backbone": ["mobilenetv3_small"]}}, "v3")
    st = optuna.create_study()
    enqueue_baselines(st, space, repeats=1)
    enqueue_baselines(st, space, repeats=1)  # a second worker: nothing new
    enqueue_baselines(st, space, repeats=5)  # more than the space allows: all allowed ones, once each
    tags = [(t.user_attrs["baseline"], t.user_attrs.get("repeat")) for t in st.get_trials()]
    assert tags == [(FULL, None), (REDUCED, None), (CHEAPEST, None), (FULL, 1), (REDUCED, 1), (CHEAPEST, 1)]
    assert st.trials[3].system_attrs["fixed_params"] == st.trials[0].system_attrs["fixed_params"]
    with pytest.raises(NasError, match="search.repeats"):
        parse_space({"search": {"repeats": 11}}, "bad")


def test_a_repeat_trains_with_another_seed_and_is_never_pruned(tmp_path, monkeypatch):
    # the repeats replay far worse errors than their baselines: the last one, after the pruner's 3 start-up
    # trials, would be pruned at epoch 1 if it were a sampled trial
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([[5.0, 4.0]] * 3 + [[9.0, 8.0]] * 2))
    space = parse_space(FIXED_SPACE, "fixed")
    st = open_study("rep", f"sqlite:///{tmp_path / 's.db'}", "score", space, seed=7)
    run_study(st, space, None, None, trials=5, device="cpu", seed=7, repeats=2)
    trials = st.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert [(t.user_attrs["baseline"], t.user_attrs.get("repeat", 0)) for t in trials] == [
        (FULL, 0), (REDUCED, 0), (CHEAPEST, 0), (FULL, 1), (REDUCED, 1)]
    assert [t.user_attrs["recipe"]["seed"] for t in trials] == [7, 7, 7, 1007, 1007]
    assert [t.user_attrs["arch"] for t in trials[3:]] == [t.user_attrs["arch"] for t in trials[:2]]
    assert trials[4].user_attrs["px_error"] == 8.0  # trained to the end


def _trial(px: float, head: float, baseline: str | None = None, repeat: int | None = None):
    """A COMPLETE trial as the objective stores it (cost 1 x 1, so score = exp(px))."""
    attrs = {"arch": {"backbone": "mobilenetv3_small", "backbone_width": 1.0, "head_depth": 2, "head_width": head,
                      "input_size": 64}, "gflops": 1.0, "mparams": 1.0, "px_error": px, "score": score(1.0, 1.0, px)}
    attrs.update({k: v for k, v in (("baseline", baseline), ("repeat", repeat)) if v is not None})
    return create_trial(value=attrs["score"], params={}, distributions={}, user_attrs=attrs)


def test_a_repeat_is_not_ranked_and_feeds_the_noise_summary():
    st = optuna.create_study(study_name="noise")
    st.add_trials([_trial(3.0, 2.0, FULL), _trial(4.0, 1.25, REDUCED), _trial(1.0, 2.0, FULL, repeat=1),
                   _trial(6.0, 0.5)])
    df = trials_frame(st)
    assert df["repeat"].tolist() == [0, 0, 1, 0]
    # the repeat's lucky 1.0 px would be best: it is no candidate, its baseline's own trial is
    assert leaderboard(df)["trial"].tolist() == [0, 1, 3]
    assert ranked_trials(st)["number"].tolist() == [0, 1, 3] and pick(st)["number"] == 0
    assert summary(df)["best"]["number"] == 0
    assert [b["number"] for b in summary(df)["baselines"]] == [0, 1]
    with pytest.raises(StudyError, match="repeats baseline seed_mobilenetv3_small_full"):
        pick(st, trial=2)
    assert repeat_groups(df) == {FULL: [3.0, 1.0]}
    n = study_noise(df)
    assert n.within == pytest.approx(math.sqrt(2)) and n.across == pytest.approx(1.5275, abs=1e-4)  # std 3, 4, 6
    page = _noise_html(df)
    assert "<td class=\"name\">seed_mobilenetv3_small_full</td><td>3.000, 1.000</td><td>2.000</td>" in page
    # one repeated architecture: the ICC is n/a and the verdict says why, whatever the old ratio says
    assert math.isnan(n.icc) and "ICC(1): <b>n/a</b>" in page and "<b>Verdict:</b> too few architectures" in page
    assert study_noise(df[df["repeat"] == 0]) is None
    assert "<code>handkp-search study --repeats K</code>" in _noise_html(df[df["repeat"] == 0])


def test_the_report_decides_from_the_icc_of_two_repeated_baselines():
    st = optuna.create_study(study_name="two")
    st.add_trials([_trial(3.0, 2.0, FULL), _trial(5.0, 1.25, REDUCED), _trial(3.1, 2.0, FULL, repeat=1),
                   _trial(5.1, 1.25, REDUCED, repeat=1)])
    df = trials_frame(st)
    n = study_noise(df)
    assert n.groups == 2 and n.icc == pytest.approx(0.995, abs=0.005)  # MSB 4.0, MSW 0.005, k0 2
    page = _noise_html(df)
    low, high = n.icc_ci
    assert low > 0.5 and f"ICC(1): <b>{n.icc:.2f} (95% interval {low:.2f} to {high:.2f})</b>" in page
    assert f"<b>Verdict:</b> the proxy separates candidates: {n.icc:.0%} of the error variance is architecture" in page
