"""Which storage `--workers` processes share (the processes themselves: test_parallel.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from nas.errors import StudyError
from nas.search import DEFAULT_JOURNAL, DEFAULT_URL, storage_for_workers
from tests.conftest import ROOT


def test_the_default_sqlite_file_becomes_the_journal_for_several_workers():
    assert storage_for_workers(DEFAULT_URL, 1) == DEFAULT_URL
    assert storage_for_workers(DEFAULT_URL, 3) == DEFAULT_JOURNAL
    pg = "postgresql+psycopg://u@h/db"
    assert storage_for_workers(pg, 3) == pg


def test_an_explicit_sqlite_file_is_refused_for_several_workers():
    assert storage_for_workers("sqlite:///mine.db", 1) == "sqlite:///mine.db"
    with pytest.raises(StudyError, match="SQLite, which is not for parallel workers"):
        storage_for_workers("sqlite:///mine.db", 2)


def test_workers_spread_over_the_gpus_of_a_machine():
    from nas.search.workers.launch import worker_device

    assert [worker_device("cuda", i, gpus=3) for i in range(5)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:0", "cuda:1"]
    assert worker_device("auto", 3, gpus=2) == "cuda:1"
    # one GPU, the CPU, a device named by the user, a process that is no numbered worker: as given
    assert [worker_device("cuda", 1, gpus=1), worker_device("cpu", 1, gpus=4), worker_device("cuda:2", 0, gpus=4),
            worker_device("cuda", None, gpus=4)] == ["cuda", "cpu", "cuda:2", "cuda"]


def test_the_auto_space_follows_the_device():
    import torch

    from nas.search.space import auto_space, load_space

    cpu, gpu = auto_space(Path("auto"), torch.device("cpu")), auto_space(Path("auto"), torch.device("cuda", 0))
    assert (cpu.name, gpu.name) == ("quick.yaml", "gpu.yaml")
    assert auto_space(Path("mine.yaml"), torch.device("cuda")) == Path("mine.yaml")
    space = load_space(ROOT / gpu)
    assert space.input_size == space.proxy.train_size == 224 and space.proxy.mode == "scratch"
