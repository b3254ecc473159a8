"""Chunked work over worker processes, shared by the synthetic renderer and the dataset decoder."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from nas.errors import DataError

__all__ = ["Chunk", "chunks", "run_chunks"]

P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Chunk(Generic[P]):
    """Rows [start, stop) of a job, with what a worker needs to do them (pickled to it)."""

    start: int
    stop: int
    payload: P

    def __len__(self) -> int:
        return self.stop - self.start


def chunks(count: int, size: int, payload: Callable[[int, int], P]) -> list[Chunk[P]]:
    """Rows 0..count-1 in chunks of `size`; `payload(start, stop)` gives each chunk's payload."""
    return [Chunk(s, min(count, s + size), payload(s, min(count, s + size))) for s in range(0, count, size)]


def _context() -> multiprocessing.context.BaseContext:
    # fork where the platform has it: the work is numpy/cv2 only, and unlike spawn it does not
    # re-import the caller's __main__ (a user script without a main guard would crash)
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def run_chunks(work: Callable[[Chunk[P]], R], jobs: Sequence[Chunk[P]], workers: int,
               on_result: Callable[[Chunk[P], R], None] | None = None,
               progress: Callable[[int], None] | None = None) -> None:
    """Run `work` (a top-level function, so it pickles) on every chunk: in this process when
    `workers` <= 1 or there is one chunk, else in a pool of `workers` processes. Back in this
    process, as each chunk finishes (in any order): `on_result(chunk, result)`, then `progress(rows done)`.
    An error or interrupt cancels the chunks not started yet."""
    done = 0

    def finish(chunk: Chunk[P], result: R) -> None:
        nonlocal done
        if on_result is not None:
            on_result(chunk, result)
        done += len(chunk)
        if progress is not None:
            progress(done)

    workers = min(workers, len(jobs))
    if workers <= 1:
        for chunk in jobs:
            finish(chunk, work(chunk))
        return
    pool = cf.ProcessPoolExecutor(workers, mp_context=_context())
    try:
        futures = {pool.submit(work, chunk): chunk for chunk in jobs}
        for future in cf.as_completed(futures):
            finish(futures[future], future.result())
    except cf.process.BrokenProcessPool:
        raise DataError("a worker process died unexpectedly (out of memory?)") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
