"""The worker loop in-process, on a replayed training: the lock, stale trials and Ctrl-C."""
from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from fake_training import FIXED_SPACE, replay
from optuna.trial import TrialState

import nas.search.proxy.modes as proxies_mod
from nas.search import finished_count, open_study, parse_space, run_study

OK = [5.0, 4.0]


@pytest.fixture()
def space():
    return parse_space(FIXED_SPACE, "fixed")


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "s.db"


def _running(study):
    return study.get_trials(states=(TrialState.RUNNING,))


def test_the_storage_lock_is_free_while_a_trial_trains(space, db, monkeypatch):
    lock_file = Path(f"{db}.study:lock.lock")  # storage_lock's side file for this study
    seen = []

    def try_lock():
        with open(lock_file, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the loop still held it
            fcntl.flock(fh, fcntl.LOCK_UN)
        seen.append(True)

    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([OK, OK], before_epoch=try_lock))
    url = f"sqlite:///{db}"
    st = open_study("lock", url, "score", space)
    assert run_study(st, space, None, None, trials=2, device="cpu", storage_url=url, baselines=False,
                     reuse_duplicates=False) == 2
    assert len(seen) == 4 and lock_file.exists()


def test_a_trial_failed_meanwhile_by_another_worker_is_left_and_the_loop_goes_on(space, db, monkeypatch):
    url = f"sqlite:///{db}"
    st = open_study("stale", url, "score", space)

    def judged_stale():  # what another worker's fail_stale_trials does to a trial it takes for dead
        for t in _running(st):
            st._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)

    first = replay([OK], before_epoch=judged_stale)
    rest = replay([OK, OK])
    calls = []

    def evaluate(*args, **kwargs):
        calls.append(1)
        return (first if len(calls) == 1 else rest)(*args, **kwargs)

    monkeypatch.setattr(proxies_mod, "evaluate_candidate", evaluate)
    assert run_study(st, space, None, None, trials=2, device="cpu", storage_url=url, baselines=False,
                     reuse_duplicates=False) == 3
    states = [t.state for t in st.get_trials()]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert finished_count(st) == 2


def test_ctrl_c_records_the_trial_as_interrupted_and_propagates(space, db, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([OK], before_epoch=interrupt))
    url = f"sqlite:///{db}"
    st = open_study("intr", url, "score", space)
    with pytest.raises(KeyboardInterrupt):
        run_study(st, space, None, None, trials=2, device="cpu", storage_url=url, baselines=False,
                     reuse_duplicates=False)
    (t,) = st.get_trials()
    assert t.state == TrialState.FAIL and t.user_attrs["reason"] == "interrupted"
