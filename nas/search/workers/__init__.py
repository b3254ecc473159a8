"""Running a search: the storage and its locks (`storage`), the workers registered in a study
(`registry`) and their share of the cores (`share`), the worker loop (`runner`), the one set-up
entry point (`launch`, with the options it takes from `options`) and worker processes on one machine
(`processes`)."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "storage": ["DEFAULT_JOURNAL", "DEFAULT_URL", "is_parallel_safe", "open_storage", "storage_lock", "study_lock"],
    "registry": ["WorkerEntry", "live_on_host"],
    "share": ["CoreShare", "ShareInfo", "share_of", "worker_share"],
    "runner": ["run_study"],
    "options": ["StudyOptions", "load_study_data"],
    "launch": ["Search", "set_up_search", "run_search", "worker_device"],
    "processes": ["run_worker", "run_workers", "storage_for_workers"],
})
