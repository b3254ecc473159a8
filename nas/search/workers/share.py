"""A study worker's share of this host's cores: cores // (the study's live workers on this host).

Workers of one study started by hand on one machine (or by `--workers`) would each take every core
and slow each other down many times over (see `nas.training.threads`). Each worker registers in the
study's storage (`nas.search.workers.registry`) and re-counts the live workers on its host at every trial
start and after every epoch, one storage read each time: a worker that started alone shrinks when a
second one joins and grows back when it leaves. Torch's thread count changes only when the share
does. A count fixed by the user (`--threads`, `HANDKP_THREADS`, `OMP_NUM_THREADS`) is kept as is.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import optuna

from nas.search.workers import registry
from nas.training.threads import DEFAULT_SOURCE, ThreadChoice, available_cores, set_threads

__all__ = ["ShareInfo", "CoreShare", "worker_share", "worker_attrs", "share_of"]


def share_of(cores: int, live: int) -> int:
    """Threads per worker: the cores split evenly, at least one each."""
    return max(1, cores // max(1, live))


@dataclass(frozen=True)
class ShareInfo:
    """What a starting worker has to say about its threads (the command line prints it)."""

    worker: str  # host:pid
    study: str
    live: int  # live workers of the study on this host, this one included
    cores: int
    threads: int
    source: str  # `cores` (a share of them) or what fixed the count

    @property
    def shared(self) -> bool:
        return self.source == DEFAULT_SOURCE


class CoreShare:
    """This worker's threads, kept in step with the study's live workers on this host.

    `floor`: the live count assumed until that many workers have registered (`--workers N` gives
    its N processes N, so the first ones to start do not take every core while the rest start).
    """

    def __init__(self, study: optuna.Study, storage_url: str | None, fixed: ThreadChoice | None = None,
                 floor: int = 1, cores: int | None = None) -> None:
        self.study, self.storage_url, self.fixed = study, storage_url, fixed
        self.floor, self.cores = floor, cores or available_cores()
        self.threads = fixed.threads if fixed else 0
        self.live = 1
        self.entry: registry.WorkerEntry | None = None

    def join(self) -> ShareInfo:
        """Register this worker, take its threads and say so."""
        self.entry = registry.this_worker(self.threads)
        registry.register(self.study, self.entry, self.storage_url)
        if self.fixed:
            set_threads(self.threads)
            self.live = self._count()
        else:
            self.refresh()
        source = self.fixed.source if self.fixed else DEFAULT_SOURCE
        return ShareInfo(self.entry.label, self.study.study_name, self.live, self.cores, self.threads, source)

    def _count(self) -> int:
        live = len(registry.live_on_host(self.study, self.entry.host if self.entry else None))
        if live >= self.floor:
            self.floor = 1  # every expected worker has come: from now on the registry alone counts
        return max(live, self.floor)

    def refresh(self) -> int:
        """Re-count the live workers and take the new share if it changed; returns the threads."""
        if self.fixed:
            return self.threads
        self.live = self._count()
        threads = share_of(self.cores, self.live)
        if threads != self.threads:
            set_threads(threads)
            self.threads = threads
            if self.entry is not None:
                self.entry = registry.update(self.study, self.entry, threads)
        return self.threads

    def leave(self) -> None:
        """Mark this worker ended, so the others grow back into its cores."""
        if self.entry is not None:
            registry.deregister(self.study, self.entry)
            self.entry = None


@contextlib.contextmanager
def worker_share(study: optuna.Study, storage_url: str | None, fixed: ThreadChoice | None = None,
                 floor: int = 1) -> Iterator[tuple[CoreShare, ShareInfo]]:
    """Work on `study` as a registered worker: (its share, what it started with); ended on the way out."""
    share = CoreShare(study, storage_url, fixed, floor)
    info = share.join()
    try:
        yield share, info
    finally:
        with contextlib.suppress(Exception):  # an unreachable storage must not hide why the run ended;
            share.leave()  # the entry then stops counting once this process is gone


def worker_attrs(share: CoreShare | None) -> dict[str, str | int]:
    """A trial's record of the worker that runs it: host, pid and threads at the trial's start (the
    share re-counted now). Without a share: this process, at torch's current thread count."""
    if share is None or share.entry is None:
        import torch

        return {"worker_host": socket.gethostname(), "worker_pid": os.getpid(),
                "worker_threads": torch.get_num_threads()}
    threads = share.refresh()
    return {"worker_host": share.entry.host, "worker_pid": share.entry.pid, "worker_threads": threads}
