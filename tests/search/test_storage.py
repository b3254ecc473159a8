"""Storage behaviour that decides whether workers survive each other (sqlite here; the same
RDBStorage code serves PostgreSQL, whose multi-process tests are in test_parallel.py)."""
from __future__ import annotations

import time

import optuna
import pytest

from nas.errors import StudyError
from nas.search.workers.storage import open_storage

RUNNING, FAIL, WAITING = optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING


def stale_after_grace(study):
    time.sleep(2.2)  # past the 1 s grace period
    optuna.storages.fail_stale_trials(study)
    return [t.state for t in study.trials]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("enqueued", [False, True])
def test_a_trial_whose_worker_dies_before_its_first_heartbeat_still_goes_stale(tmp_path, enqueued):
    # a worker killed between ask() and the start of the objective's heartbeat thread used to leave a
    # trial RUNNING forever (Optuna never judges a trial without any heartbeat stale)
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    storage = open_storage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage, study_name="hb")
    if enqueued:
        study.enqueue_trial({"x": 1.0})
        assert [t.state for t in study.trials] == [WAITING]
    study.ask()  # ... and the worker dies here: no heartbeat thread ever runs
    states = stale_after_grace(study)
    assert states[0] == FAIL
    assert states[1:] == [WAITING]  # retried once
    if enqueued:  # with what it was enqueued with, although it died before sampling it
        assert study.trials[1].system_attrs["fixed_params"] == {"x": 1.0}


def test_storage_url_errors_are_typed(tmp_path):
    with pytest.raises(StudyError, match="not a storage URL"):
        open_storage(str(tmp_path / "x.db"))
    with pytest.raises(StudyError, match="cannot open"):
        open_storage("postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.parametrize("prefix", ["sqlite:///", "journal:///"])
def test_reading_a_study_from_a_storage_file_that_does_not_exist_creates_nothing(tmp_path, prefix):
    from nas.search.study import load_existing_study

    path = tmp_path / "missing.db"
    with pytest.raises(StudyError, match="no storage at"):
        load_existing_study("x", prefix + str(path))
    assert list(tmp_path.iterdir()) == []
