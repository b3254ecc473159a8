"""Several worker processes on this machine, cooperating on one study through its storage.

Each worker is a fresh process (spawned: no CUDA or storage connection is inherited) that opens the
study with its own sampler seed, loads the data (from the cache the parent filled) and runs
`run_study`. The cores are split between them: each registers in the study like a worker started by
hand and takes its share (`nas.search.workers.share`), counting at least N workers until all N have come.
Ctrl-C reaches every worker: each records its trial as interrupted, and the parent raises
KeyboardInterrupt once all have stopped.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.queues import SimpleQueue
from typing import TYPE_CHECKING

from nas.errors import NasError, StudyError
from nas.search.workers.launch import run_search, set_up_search
from nas.search.workers.options import StudyOptions
from nas.search.workers.storage import DEFAULT_JOURNAL, DEFAULT_URL, is_parallel_safe

if TYPE_CHECKING:
    from nas.search.hooks import StudyHooks

__all__ = ["storage_for_workers", "run_worker", "run_workers"]

HooksFactory = Callable[[int], "StudyHooks"]  # worker index -> its hooks (picklable: a class or a function)
_STOP_GRACE_S = 10.0  # after Ctrl-C, how long workers get to record their trials before a SIGINT of their own


def storage_for_workers(storage: str, workers: int) -> str:
    """The storage `workers` processes can share: `storage` itself, or the journal file in place of
    the default SQLite file (SQLite is for one process). An explicit SQLite URL is refused."""
    if workers <= 1 or is_parallel_safe(storage):
        return storage
    if storage != DEFAULT_URL:
        raise StudyError(f"--workers {workers}: {storage} is SQLite, which is not for parallel workers; use "
                         f"--storage postgresql+psycopg://USER@HOST/DB or {DEFAULT_JOURNAL}")
    return DEFAULT_JOURNAL


def run_worker(options: StudyOptions, index: int | None = None, hooks: StudyHooks | None = None,
               floor: int = 1) -> int:
    """One worker's whole run on the study (`nas.search.workers.launch`: set up as worker `index`, then run
    with `floor` live workers assumed); returns how many trials it ran."""
    return run_search(set_up_search(options, index), hooks, floor)


def _worker_main(options: StudyOptions, index: int, workers: int, hooks: HooksFactory | None,
                 errors: SimpleQueue) -> None:
    """A spawned worker process: quiet Optuna, its share of the cores, errors sent to the parent."""
    import optuna

    from nas.search.workers.share import share_of
    from nas.training.threads import available_cores, set_threads

    # until it registers, a worker assumes all N share the cores (its data loading computes too)
    set_threads(options.threads.threads if options.threads else share_of(available_cores(), workers))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        run_worker(options, index, hooks(index) if hooks else None, floor=workers)
    except NasError as exc:
        errors.put((index, str(exc)))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def _stop(procs: list) -> None:
    """After Ctrl-C: let the workers finish recording their trials, then interrupt any still running."""
    deadline = time.monotonic() + _STOP_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGINT)
    for p in procs:
        p.join()


def run_workers(options: StudyOptions, workers: int, hooks: HooksFactory | None = None) -> None:
    """Run `workers` worker processes on the study and wait for all; StudyError names the failed ones."""
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=_worker_main, args=(options, i, workers, hooks, errors), name=f"worker {i}")
             for i in range(workers)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        _stop(procs)
        raise
    failed = _failures(procs, errors)
    if failed:
        raise StudyError("; ".join(failed))


def _failures(procs: list, errors: SimpleQueue) -> list[str]:
    messages = {}
    while not errors.empty():
        index, message = errors.get()
        messages[index] = message
    return [f"worker {i}: {messages.get(i, f'exited with {p.exitcode}')}" for i, p in enumerate(procs)
            if p.exitcode != 0]
