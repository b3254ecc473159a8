"""The worker loop: take the next trial under the study's storage lock, run it, record it.

Several processes (any machines) may run `run_study` on one study. Checking the count and
creating a trial happen under one storage-wide lock, so `trials` is the study's total across
workers and no trial runs twice; the objective runs outside the lock, with heartbeats, and its
outcome is told afterwards.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import Trial, TrialState

from nas.data.dataset import KeypointDataset
from nas.search.baselines import enqueue_baselines
from nas.search.hooks import StudyHooks
from nas.search.objective import Objective, TrialFailed
from nas.search.proxy.modes import make_proxy
from nas.search.space import SearchSpace
from nas.search.study import DONE_STATES
from nas.search.workers.storage import study_lock

if TYPE_CHECKING:
    from nas.search.workers.share import CoreShare

__all__ = ["run_study"]


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished, running) trials, every worker's."""
    trials = study.get_trials(deepcopy=False, states=(*DONE_STATES, TrialState.RUNNING))
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return len(trials) - running, running


def _fail_stale_trials(study: optuna.Study) -> None:
    """Dead workers' trials (no heartbeat within the grace period) -> failed, and retried once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def _ask(study: optuna.Study) -> Trial:
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for optimize(); _run_trial runs them as optimize does
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return study.ask()


def _fail(study: optuna.Study, trial: Trial) -> None:
    """Record the trial as failed, unless another worker already did (it judged the trial stale)."""
    with contextlib.suppress(UpdateFinishedTrialError):
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def _outcome(study: optuna.Study, trial: Trial, objective: Objective) -> tuple[Any, TrialState | None]:
    """(values, state) for `study.tell`. Ctrl-C and unexpected errors fail the trial, then propagate."""
    try:
        return objective(trial), None
    except optuna.TrialPruned:
        return None, TrialState.PRUNED
    except TrialFailed:
        return None, TrialState.FAIL
    except KeyboardInterrupt:
        with contextlib.suppress(UpdateFinishedTrialError):
            trial.set_user_attr("reason", "interrupted")
        _fail(study, trial)
        raise
    except Exception:
        _fail(study, trial)
        raise


def _run_trial(study: optuna.Study, trial: Trial, objective: Objective, hooks: StudyHooks | None) -> None:
    try:
        with get_heartbeat_thread(trial._trial_id, study._storage):  # as optimize() runs the objective
            values, state = _outcome(study, trial, objective)
        finished = study.tell(trial, values, state, skip_if_finished=True)
    except UpdateFinishedTrialError:
        # another worker judged this trial stale (no heartbeat within the grace period, e.g. an
        # overloaded machine), failed it and enqueued its retry: go on with the next trial
        return
    if hooks:
        hooks.trial_finished(finished)


def run_study(
    study: optuna.Study,
    space: SearchSpace,
    train_data: KeypointDataset,
    val_data: KeypointDataset,
    *,
    trials: int,
    timeout: float | None = None,
    device: str = "auto",
    seed: int = 0,
    hooks: StudyHooks | None = None,
    storage_url: str | None = None,
    poll_s: float = 2.0,
    baselines: bool = True,
    skip_hopeless: bool = True,
    share: CoreShare | None = None,
    repeats: int = 0,
    artifacts_dir: Path | None = None,
    reuse_duplicates: bool = True,
) -> int:
    """Run trials until the study holds `trials` finished (complete or pruned) trials, counting
    every worker's; returns how many this process ran.

    While the remaining trials are all running elsewhere, a worker waits: if one of those workers
    dies, its trial goes stale (heartbeats), is marked failed, retried once, and a waiting worker
    picks the retry up. Failed trials (diverged, out of memory, interrupted) are recorded with
    their reason and do not count. `storage_url` names the lock (None: an in-memory study).
    `baselines=False` and `skip_hopeless=False` turn off the baselines and the pre-training skip
    (benchmarks). `share`: this worker's share of the cores, re-counted at each trial start and
    epoch (`worker_share`); None leaves torch's threads as they are. `repeats`: the first N
    baselines are enqueued once more, trained with another seed (`enqueue_baselines`).
    `reuse_duplicates=False` trains a draw again even when a complete trial has its architecture and
    recipe (by default it takes that trial's result, marked `duplicate_of`).
    """
    proxy = make_proxy(space, study, train_data, val_data, device=device, seed=seed, storage_url=storage_url,
                       artifacts_dir=artifacts_dir, on_status=hooks.status if hooks else None)
    objective = Objective(space, study.user_attrs.get("objective", "score"), train_data, val_data, device=device,
                          seed=seed, hooks=hooks, skip_hopeless=skip_hopeless, share=share, proxy=proxy,
                          reuse_duplicates=reuse_duplicates)
    if baselines:
        with study_lock(storage_url, study.study_name):
            enqueue_baselines(study, space, repeats=repeats)
    return _run_trials(study, objective, trials, timeout, storage_url, poll_s, hooks)


def _run_trials(study: optuna.Study, objective: Objective, trials: int, timeout: float | None,
                storage_url: str | None, poll_s: float, hooks: StudyHooks | None) -> int:
    """Ask, run and tell trials under the storage lock until the study holds `trials` finished ones
    (or `timeout` seconds passed, or 3x as many ran and failed); how many this process ran."""
    deadline = None if timeout is None else time.monotonic() + timeout
    ran = 0
    while (deadline is None or time.monotonic() < deadline) and ran <= 3 * trials:  # all failing: stop
        _fail_stale_trials(study)
        with study_lock(storage_url, study.study_name):
            finished, running = _counts(study)
            trial = _ask(study) if finished + running < trials else None
        if trial is None:
            if finished >= trials:
                break
            time.sleep(poll_s)  # the rest is running elsewhere: wait for it
            continue
        _run_trial(study, trial, objective, hooks)
        ran += 1
    return ran
