"""Threads of a training process: --threads > HANDKP_THREADS > OMP_NUM_THREADS > every core."""
from __future__ import annotations

import os
import subprocess

import pytest
import torch
from conftest import cli

from nas.cli.options import use_threads
from nas.errors import ConfigError
from nas.training.threads import ThreadChoice, available_cores, choose_threads, fixed_threads, set_threads


@pytest.fixture()
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_option_wins_then_handkp_threads_then_omp_num_threads():
    env = {"HANDKP_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert fixed_threads(2, env) == ThreadChoice(2, "--threads")
    assert fixed_threads(None, env) == ThreadChoice(3, "HANDKP_THREADS")
    assert fixed_threads(None, {"OMP_NUM_THREADS": "5"}) == ThreadChoice(5, "OMP_NUM_THREADS")
    assert fixed_threads(None, {"OMP_NUM_THREADS": "4,2"}) == ThreadChoice(4, "OMP_NUM_THREADS")  # nested OpenMP
    assert fixed_threads(None, {}) is None
    assert all(c.fixed for c in (fixed_threads(2, env), fixed_threads(None, env)))


def test_nothing_fixed_means_every_core_this_process_may_use():
    choice = choose_threads(None, {})
    assert choice == ThreadChoice(available_cores()) and not choice.fixed
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))
    assert choose_threads(None, {"HANDKP_THREADS": "7"}).threads == 7


def test_a_malformed_handkp_threads_is_an_error_and_a_malformed_omp_value_is_ignored():
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(ConfigError, match="HANDKP_THREADS"):
            fixed_threads(None, {"HANDKP_THREADS": bad})
    assert fixed_threads(None, {"OMP_NUM_THREADS": "lots"}) is None
    assert fixed_threads(None, {"HANDKP_THREADS": " ", "OMP_NUM_THREADS": "2"}).source == "OMP_NUM_THREADS"


def test_set_threads_changes_torch_only_when_the_count_differs(keep_torch_threads):
    torch.set_num_threads(1)
    assert set_threads(2) is True and torch.get_num_threads() == 2
    assert set_threads(2) is False


def test_a_command_that_trains_alone_takes_its_threads(keep_torch_threads, monkeypatch):
    monkeypatch.delenv("HANDKP_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert use_threads(None) == ThreadChoice(available_cores()) and torch.get_num_threads() == available_cores()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert use_threads(None).source == "OMP_NUM_THREADS" and torch.get_num_threads() == 1
    assert use_threads(2).source == "--threads" and torch.get_num_threads() == 2


def test_train_with_a_bad_handkp_threads_fails_before_any_work(cli_env, tmp_path):
    env = {**cli_env, "HANDKP_THREADS": "many"}
    r = subprocess.run(cli("train", "--device", "cpu", "--images", "8"), env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: HANDKP_THREADS='many'"), r.stderr
    assert list(tmp_path.iterdir()) == []
