"""The study's worker registry: which processes work on a study, on which host, with how many threads.

Each worker writes one study system attribute of its own, `worker:<host>:<pid>`, holding its host,
pid, threads, start time and (on Linux) its process start time. Optuna cannot delete attributes, so
a worker that ends marks its entry `ended`; a worker killed outright cannot, so an entry only counts
while a process with that pid is alive on that host and (where /proc tells) started when the
worker did, so a pid reused by an unrelated process is not mistaken for the worker.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from nas.search.workers.storage import study_lock

__all__ = ["PREFIX", "WorkerEntry", "this_worker", "register", "update", "deregister", "registered",
           "live_on_host", "is_alive"]

PREFIX = "worker:"


@dataclass(frozen=True)
class WorkerEntry:
    host: str
    pid: int
    threads: int
    started: float  # unix time
    proc_start: int | None = None  # the process's start time in clock ticks after boot (/proc), None elsewhere
    ended: float | None = None  # unix time; None while it works

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.host}:{self.pid}"

    @property
    def label(self) -> str:
        return f"{self.host}:{self.pid}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkerEntry:
        return cls(str(d["host"]), int(d["pid"]), int(d["threads"]), float(d["started"]), d.get("proc_start"),
                   d.get("ended"))


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields from the third on (state, ppid, ...), or None where there is no /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the command name in parentheses may hold spaces


def _proc_start(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None  # field 22, starttime


def this_worker(threads: int, pid: int | None = None, host: str | None = None) -> WorkerEntry:
    """The entry of process `pid` (default: this one) on `host` (default: this machine)."""
    pid = os.getpid() if pid is None else pid
    return WorkerEntry(host or socket.gethostname(), pid, threads, time.time(), _proc_start(pid))


def _write(study: optuna.Study, entry: WorkerEntry) -> None:
    study._storage.set_study_system_attr(study._study_id, entry.key, asdict(entry))


def register(study: optuna.Study, entry: WorkerEntry, storage_url: str | None) -> None:
    """Add `entry` under the study's storage lock, so a starting worker's count sees every earlier one."""
    with study_lock(storage_url, study.study_name):
        _write(study, entry)


def update(study: optuna.Study, entry: WorkerEntry, threads: int) -> WorkerEntry:
    """Record a worker's new thread count (its own key: no other writer)."""
    entry = replace(entry, threads=threads)
    _write(study, entry)
    return entry


def deregister(study: optuna.Study, entry: WorkerEntry) -> None:
    _write(study, replace(entry, ended=time.time()))


def registered(study: optuna.Study) -> list[WorkerEntry]:
    """Every entry the study holds, ended ones included (one storage read)."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return [WorkerEntry.from_dict(v) for k, v in attrs.items() if k.startswith(PREFIX) and isinstance(v, dict)]


def is_alive(entry: WorkerEntry) -> bool:
    """Whether the entry's process still runs (on this host): it exists, is no zombie, and started
    when the worker did."""
    if entry.pid <= 0:
        return False
    try:
        os.kill(entry.pid, 0)
    except PermissionError:  # exists, another user's
        pass
    except OSError:
        return False
    fields = _proc_stat(entry.pid)
    if fields is None:
        return True
    return fields[0] != "Z" and (entry.proc_start is None or int(fields[19]) == entry.proc_start)


def live_on_host(study: optuna.Study, host: str | None = None) -> list[WorkerEntry]:
    """The study's workers that have not ended and still run on `host` (default: this machine)."""
    host = host or socket.gethostname()
    return [e for e in registered(study) if e.host == host and e.ended is None and is_alive(e)]
