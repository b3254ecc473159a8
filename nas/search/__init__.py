"""The architecture search, in three rooms: the study's logic here (the space, sampling, the
baselines, the objective with its skip and checks, the study), how a trial estimates its error
(`proxy/`: from scratch or sliced out of a shared supernet), and running it (`workers/`: the
storage, the worker loop, worker processes and their share of the cores). Names load on first use
(`nas.lazy`), so opening a storage or reading a space does not import torch."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "space": ["SearchSpace", "load_space", "auto_space", "parse_space", "PROXY_MODES", "SupernetBudget"],
    "noise": ["proxy_noise", "noise_verdict"],
    "baselines": ["SEED_BASELINES", "enqueue_baselines"],
    "sampling": ["StepRoundingSampler", "arch_from_params", "make_pruner", "make_sampler", "sampler_seed",
        "suggest_params"],
    "study": ["DONE_STATES", "OBJECTIVES", "check_objective", "finished_count", "load_existing_study", "open_study"],
    "skip": ["skip_reason"],
    "objective": ["Objective", "TrialFailed", "recipe_for"],
    "hooks": ["StudyHooks"],
    "workers.runner": ["run_study"],
    "workers.options": ["StudyOptions", "load_study_data"],
    "workers.launch": ["Search", "set_up_search", "run_search"],
    "workers.processes": ["run_worker", "run_workers", "storage_for_workers"],
    "workers.storage": ["DEFAULT_JOURNAL", "DEFAULT_URL", "is_parallel_safe", "open_storage", "storage_lock",
        "study_lock"],
    "workers.registry": ["WorkerEntry", "live_on_host"],
    "workers.share": ["CoreShare", "ShareInfo", "share_of", "worker_share"],
    "proxy.scratch": ["CandidateResult", "evaluate_candidate"],
})
