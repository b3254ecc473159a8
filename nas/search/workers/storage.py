"""Study storage: URLs -> Optuna storages, and a cross-process lock per storage.

- `sqlite:///file.db`: one process at a time (SQLite is not for parallel workers).
- `postgresql+psycopg://user@host:port/db` (any SQLAlchemy URL): many workers on many machines.
  Workers send heartbeats; a trial whose worker stopped beating (SIGKILL, machine loss) for
  `grace_period` seconds is marked failed by the next worker that looks, and retried once
  (`RetryHeartbeatStaleTrialCallback`).
- `journal:///path/file.log`: Optuna's journal file storage, for parallel workers on one machine
  without a server (no heartbeats: a killed worker's trial stays RUNNING until cleaned by hand).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna

from nas.errors import StudyError

__all__ = ["open_storage", "storage_lock", "study_lock", "is_parallel_safe", "JOURNAL_PREFIX", "HEARTBEAT_S", "GRACE_S",
           "DEFAULT_URL", "DEFAULT_JOURNAL"]

JOURNAL_PREFIX = "journal:///"
DEFAULT_URL = "sqlite:///reports/studies.db"  # one process; rerunning a command resumes its study
DEFAULT_JOURNAL = JOURNAL_PREFIX + "reports/studies.journal"  # what --workers uses in its place
# heartbeat every HEARTBEAT_S seconds; a trial silent for GRACE_S is stale (env overrides, e.g. for tests)
HEARTBEAT_S = int(os.environ.get("HANDKP_HEARTBEAT_S", "30"))
GRACE_S = int(os.environ.get("HANDKP_GRACE_S", "120"))
_CACHE: dict[tuple, object] = {}


def is_parallel_safe(url: str) -> bool:
    """Whether several processes may work on a study in this storage at once."""
    return not url.startswith("sqlite:")


def open_storage(url: str, heartbeat_interval: int | None = HEARTBEAT_S, grace_period: int | None = GRACE_S):
    """The Optuna storage for `url` (cached per process). RDB storages get heartbeats and retry a
    dead worker's trial once."""
    if "://" not in url:
        raise StudyError(f"storage {url!r}: not a storage URL (e.g. sqlite:///reports/studies.db, "
                         "postgresql+psycopg://user@host/db or journal:///reports/studies.journal)")
    key = (url, heartbeat_interval, grace_period)
    if key in _CACHE:
        return _CACHE[key]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
            storage = _make(url, heartbeat_interval, grace_period)
    except Exception as exc:  # optuna/sqlalchemy raise many types for a bad or unreachable URL
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise StudyError(f"storage {url!r}: cannot open ({type(exc).__name__}: {first})") from None
    _CACHE[key] = storage
    return storage


class RetryStaleTrial:
    """Re-enqueue a dead worker's trial, at most `max_retry` times (like Optuna's
    RetryHeartbeatStaleTrialCallback, whose system attributes `failed_trial` / `retry_history` it
    keeps). The copy is enqueued as fixed parameters rather than a validated distribution, so a
    baseline that lies outside a narrowed space can be retried too."""

    def __init__(self, max_retry: int = 1) -> None:
        self.max_retry = max_retry

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        if len(history) > self.max_retry:
            return
        # a trial killed before it sampled anything has no params yet: keep what it was enqueued with (a baseline)
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        system_attrs = {"fixed_params": params, "failed_trial": trial.number, "retry_history": history}
        # the retry is run by whichever worker takes it up, which records itself
        user_attrs = {k: v for k, v in trial.user_attrs.items() if not k.startswith("worker_")}
        study.add_trial(optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING, system_attrs=system_attrs, user_attrs=user_attrs))


def storage_file(url: str) -> Path | None:
    """The file a SQLite or journal storage lives in (None: a server, or SQLite in memory)."""
    for prefix in (JOURNAL_PREFIX, "sqlite:///"):
        if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
            return Path(url[len(prefix):])
    return None


def _make(url: str, heartbeat_interval: int | None, grace_period: int | None):
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX):])
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
        return optuna.storages.JournalStorage(backend)
    if url.startswith("postgresql"):
        # RDBStorage creates Optuna's tables when they are missing; workers started at once on an
        # empty database would race in CREATE TABLE (PostgreSQL answers a unique violation on
        # pg_type), so the first one creates them under an advisory lock and the rest find them.
        with storage_lock(url, "schema"):
            return _rdb(url, heartbeat_interval, grace_period)
    return _rdb(url, heartbeat_interval, grace_period)


class _BeatingRDBStorage(optuna.storages.RDBStorage):
    """RDBStorage whose trials get their first heartbeat the moment they start RUNNING.

    Optuna records the first heartbeat only once the objective's heartbeat thread starts, after
    `ask()` has sampled; and a RUNNING trial without any heartbeat is never judged stale. A worker
    killed in that gap left a trial RUNNING forever, and every other worker waited on it."""

    # Optuna's cache layer calls the private _create_new_trial, not create_new_trial
    def _create_new_trial(self, study_id: int, template_trial: optuna.trial.FrozenTrial | None = None):
        frozen = super()._create_new_trial(study_id, template_trial)
        if frozen.state == optuna.trial.TrialState.RUNNING:
            self.record_heartbeat(frozen._trial_id)
        return frozen

    def set_trial_state_values(self, trial_id: int, state: optuna.trial.TrialState,
                               values: list[float] | None = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == optuna.trial.TrialState.RUNNING:  # a waiting (enqueued) trial taken up
            self.record_heartbeat(trial_id)
        return changed


def _rdb(url: str, heartbeat_interval: int | None, grace_period: int | None):
    if heartbeat_interval:
        return _BeatingRDBStorage(
            url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
            heartbeat_stale_trial_callback=RetryStaleTrial(max_retry=1),
        )
    return optuna.storages.RDBStorage(url)


@contextlib.contextmanager
def storage_lock(url: str, name: str = "handkp") -> Iterator[None]:
    """Mutual exclusion among every process using `url` (and `name`): a PostgreSQL advisory lock
    for server storages, an flock on a side file for sqlite/journal files. Used so that checking
    the study and creating a trial (or enqueueing the baselines) is one step across workers."""
    if url.startswith("postgresql"):
        import sqlalchemy

        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        engine = _engine(url)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    if url.startswith(JOURNAL_PREFIX):
        base = Path(url[len(JOURNAL_PREFIX):])
    elif url.startswith("sqlite:///"):
        base = Path(url[len("sqlite:///"):])
    else:  # other servers: no cross-machine lock available; same-machine processes still serialise
        base = Path(os.environ.get("TMPDIR", "/tmp")) / f"handkp-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    lock_path = base.with_name(base.name + f".{name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def study_lock(storage_url: str | None, study_name: str) -> contextlib.AbstractContextManager:
    """The lock of one study in its storage (`storage_url` None: an in-memory study, one process: no lock)."""
    if storage_url is None:
        return contextlib.nullcontext()
    return storage_lock(storage_url, f"study:{study_name}")


_ENGINES: dict[str, object] = {}


def _engine(url: str):
    import sqlalchemy

    if url not in _ENGINES:
        _ENGINES[url] = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    return _ENGINES[url]
