"""The objective's per-epoch pruning on exact numbers: a replayed training, a real study and pruner."""
from __future__ import annotations

import math

import pytest
from fake_training import FIXED_SPACE, replay
from optuna.trial import TrialState

import nas.search.proxy.modes as proxies_mod
from nas.report import leaderboard, summary, trials_frame
from nas.search import open_study, parse_space, run_study

GOOD, LATE, BAD = [5.0, 4.0], [3.0, 2.0], [9.0, 8.0]


@pytest.fixture()
def space():
    return parse_space(FIXED_SPACE, "fixed")


@pytest.fixture()
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 's.db'}"


def test_epochs_report_cost_times_exp_error_and_the_pruner_decides_on_them(space, storage, monkeypatch):
    # 3 start-up trials complete, then one worse than the best at epoch 1 (pruned there) and one better (kept)
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([GOOD, GOOD, GOOD, BAD, LATE]))
    st = open_study("prune", storage, "score", space)
    # replays: no data
    run_study(st, space, None, None, trials=5, device="cpu", baselines=False, reuse_duplicates=False)
    trials = st.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED, TrialState.COMPLETE]
    cost = trials[0].user_attrs["cost"]
    k = space.search.checks_per_epoch  # report steps count checks: the end of epoch e is step e x k
    assert trials[0].intermediate_values == pytest.approx({k: cost * math.exp(5.0), 2 * k: cost * math.exp(4.0)})
    pruned = trials[3]
    assert pruned.intermediate_values == pytest.approx({k: cost * math.exp(9.0)})  # stopped after epoch 1
    assert pruned.user_attrs["reason"].startswith("pruned at epoch 1: partial score")
    assert pruned.user_attrs["history_px"] == [9.0] and "score" not in pruned.user_attrs
    kept = trials[4]
    assert kept.intermediate_values == pytest.approx({k: cost * math.exp(3.0), 2 * k: cost * math.exp(2.0)})
    assert kept.value == pytest.approx(cost * math.exp(2.0)) == pytest.approx(kept.user_attrs["score"])


def test_never_pruned_at_the_last_report(space, storage, monkeypatch):
    # worse than every start-up trial only at its last epoch: its budget is spent, so it completes
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([GOOD, GOOD, GOOD, [3.0, 9.0], BAD]))
    st = open_study("last", storage, "score", space)
    run_study(st, space, None, None, trials=5, device="cpu", baselines=False, reuse_duplicates=False)
    states = [t.state for t in st.get_trials()]
    assert states == [TrialState.COMPLETE] * 4 + [TrialState.PRUNED]  # the pruner is live: BAD stops at epoch 1


def test_pareto_trials_are_never_pruned(space, storage, monkeypatch):
    # the same replay that prunes under `score`: a multi-objective trial cannot be pruned, it trains to the end
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([GOOD, GOOD, GOOD, BAD]))
    st = open_study("front", storage, "pareto", space)
    run_study(st, space, None, None, trials=4, device="cpu", baselines=False, reuse_duplicates=False)
    trials = st.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert all(t.intermediate_values == {} for t in trials)
    assert trials[3].values[2] == 8.0  # the bad trial's best error, after both epochs


def test_a_repeated_draw_takes_the_first_trials_result(space, storage, monkeypatch):
    # one fixed architecture and recipe: the first trial trains, the next draws reuse its result
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([GOOD]))  # a second training would raise
    st = open_study("dup", storage, "score", space)
    run_study(st, space, None, None, trials=3, device="cpu", baselines=False)
    first, *again = st.get_trials()
    assert [t.state for t in st.get_trials()] == [TrialState.COMPLETE] * 3
    assert all(t.user_attrs["duplicate_of"] == 0 and t.value == first.value for t in again)
    assert "duplicate_of" not in first.user_attrs
    df = trials_frame(st)
    assert leaderboard(df)["trial"].tolist() == [0]  # the architecture is ranked once
    assert summary(df)["counts"]["duplicates"] == 2
