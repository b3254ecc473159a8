"""A worker's share of the cores, counted from the study's live workers in a real storage, and the
worker each trial records."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from fake_training import FIXED_SPACE, replay

import nas.search.proxy.modes as proxies_mod
from nas.report import trials_frame
from nas.search import open_study, parse_space, run_study
from nas.search.workers.registry import deregister, live_on_host, register, registered, this_worker
from nas.search.workers.share import CoreShare, share_of, worker_share
from nas.search.workers.storage import RetryStaleTrial
from nas.training.threads import ThreadChoice


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["journal", "sqlite"])
def study(request, tmp_path):
    """A study in a real storage file, and its URL."""
    url = (f"journal:///{tmp_path / 's.journal'}" if request.param == "journal" else f"sqlite:///{tmp_path / 's.db'}")
    return open_study("share", url, "score", parse_space(FIXED_SPACE, "fixed")), url


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_two_workers_on_this_host_take_half_the_cores_each(study):
    st, url = study
    register(st, this_worker(4, pid=os.getppid()), url)  # another worker: the parent process, alive
    share = CoreShare(st, url, cores=4)
    info = share.join()
    assert (info.live, info.threads, info.cores, info.shared) == (2, 2, 4, True)
    assert torch.get_num_threads() == 2
    assert info.worker == f"{this_worker(0).host}:{os.getpid()}"
    assert {e.pid for e in live_on_host(st)} == {os.getpid(), os.getppid()}
    assert {e.pid: e.threads for e in registered(st)}[os.getpid()] == 2  # the entry says what it took


def test_dead_processes_other_hosts_and_ended_workers_do_not_count(study):
    st, url = study
    register(st, this_worker(1, pid=_dead_pid()), url)
    register(st, replace(this_worker(1, pid=os.getppid()), host="elsewhere"), url)
    ended = this_worker(1, pid=os.getppid())
    register(st, ended, url)
    deregister(st, ended)
    info = CoreShare(st, url, cores=4).join()
    assert (info.live, info.threads) == (1, 4)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_reused_pid_is_not_the_worker_that_registered_it(study):
    st, url = study
    stranger = replace(this_worker(1, pid=os.getppid()), proc_start=1)  # same pid, another process's start
    register(st, stranger, url)
    assert [e.pid for e in live_on_host(st)] == []


def test_the_share_shrinks_when_a_worker_joins_and_grows_back_when_it_leaves(study):
    st, url = study
    with worker_share(st, url) as (share, info):
        share.cores = 4
        assert share.refresh() == 4 and torch.get_num_threads() == 4
        other = this_worker(0, pid=os.getppid())
        register(st, other, url)
        assert share.refresh() == 2 and torch.get_num_threads() == 2
        deregister(st, other)
        assert share.refresh() == 4
    assert live_on_host(st) == []  # leaving marks this worker ended


def test_the_workers_floor_holds_until_that_many_have_come(study):
    st, url = study
    share = CoreShare(st, url, floor=2, cores=4)
    assert share.join().threads == 2  # alone so far, but a sibling is starting
    other = this_worker(0, pid=os.getppid())
    register(st, other, url)
    assert share.refresh() == 2
    deregister(st, other)
    assert share.refresh() == 4  # both came: from now on the registry alone counts


def test_a_fixed_count_is_kept_whatever_the_others_do(study):
    st, url = study
    register(st, this_worker(1, pid=os.getppid()), url)
    share = CoreShare(st, url, ThreadChoice(3, "--threads"), cores=4)
    info = share.join()
    assert (info.live, info.threads, info.source, info.shared) == (2, 3, "--threads", False)
    assert torch.get_num_threads() == 3
    assert share.refresh() == 3
    assert share_of(4, 3) == 1 and share_of(2, 5) == 1 and share_of(8, 3) == 2


def test_every_trial_records_its_worker_and_a_share_changed_mid_trial(study, monkeypatch):
    st, url = study
    other = this_worker(0, pid=os.getppid())
    monkeypatch.setattr(proxies_mod, "evaluate_candidate",
                        replay([[5.0, 4.0], [5.0, 4.0]], before_epoch=lambda: register(st, other, url)))
    space = parse_space(FIXED_SPACE, "fixed")
    with worker_share(st, url) as (share, _):
        share.cores = 4
        run_study(st, space, None, None, trials=2, device="cpu", storage_url=url, baselines=False, share=share,
                  reuse_duplicates=False)
    first, second = (t.user_attrs for t in st.trials)
    assert first["worker_host"] == other.host and first["worker_pid"] == os.getpid()
    # alone at the start; the second worker joined during the first epoch: the next epochs ran on 2
    assert (first["worker_threads"], first["worker_threads_end"]) == (4, 2)
    assert second["worker_threads"] == 2 and "worker_threads_end" not in second
    labels = list(trials_frame(st)["worker"])
    host = other.host.split(".")[0]
    assert labels == [f"{host}:{os.getpid()} x4>2", f"{host}:{os.getpid()} x2"]


def test_without_a_share_a_trial_records_this_process_and_torchs_threads(monkeypatch, tmp_path):
    monkeypatch.setattr(proxies_mod, "evaluate_candidate", replay([[5.0, 4.0]]))
    space = parse_space(FIXED_SPACE, "fixed")
    st = open_study("alone", f"sqlite:///{tmp_path / 'a.db'}", "score", space)
    torch.set_num_threads(1)
    run_study(st, space, None, None, trials=1, device="cpu", baselines=False, reuse_duplicates=False)
    a = st.trials[0].user_attrs
    assert (a["worker_pid"], a["worker_threads"]) == (os.getpid(), 1)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_a_dead_workers_trial_is_retried_without_its_worker(study):
    st, _ = study
    trial = st.ask()
    for k, v in {"worker_host": "h", "worker_pid": 1, "worker_threads": 2, "arch": {"x": 1}}.items():
        trial.set_user_attr(k, v)
    st.tell(trial, state=optuna.trial.TrialState.FAIL)
    RetryStaleTrial()(st, st.trials[0])
    retry = st.trials[1]
    assert retry.state == optuna.trial.TrialState.WAITING and retry.user_attrs == {"arch": {"x": 1}}
