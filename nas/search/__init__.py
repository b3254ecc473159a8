"""The architecture search: the space, the Optuna study and its trials, the worker loop and worker
processes, and choosing from a study. Names load on first use (`nas.lazy`), so opening a storage or reading a
space does not import torch. (`pick` itself is `nas.search.pick.pick`: the name is its module's.)"""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "space": ["SearchSpace", "load_space", "auto_space", "parse_space", "PROXY_MODES", "SupernetBudget"],
    "noise": ["proxy_noise", "noise_verdict"],
    "baselines": ["SEED_BASELINES", "enqueue_baselines"],
    "sampling": ["StepRoundingSampler", "arch_from_params", "make_pruner", "make_sampler", "sampler_seed",
        "suggest_params"],
    "study": ["DONE_STATES", "OBJECTIVES", "finished_count", "load_existing_study", "open_study"],
    "skip": ["skip_reason"],
    "objective": ["Objective", "TrialFailed", "recipe_for"],
    "hooks": ["StudyHooks"],
    "runner": ["run_study"],
    "options": ["StudyOptions", "load_study_data"],
    "launch": ["Search", "set_up_search", "run_search"],
    "workers": ["run_worker", "run_workers", "storage_for_workers"],
    "storage": ["DEFAULT_JOURNAL", "DEFAULT_URL", "is_parallel_safe", "open_storage", "storage_lock", "study_lock"],
    "registry": ["WorkerEntry", "live_on_host"],
    "share": ["CoreShare", "ShareInfo", "share_of", "worker_share"],
    "candidate": ["CandidateResult", "evaluate_candidate"],
    "pick": ["Constraints", "ranked_trials", "spec_for_trial"],
    "fidelity": ["FidelityResult", "run_fidelity", "select_trials"],
})
