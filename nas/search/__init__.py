"""The architecture search: the space, the Optuna study and its trials, the worker loop and worker
processes, and choosing from a study. Names load on first use, so opening a storage or reading a
space does not import torch. (`pick` itself is `nas.search.pick.pick`: the name is its module's.)"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_JOURNAL", "DEFAULT_URL", "DONE_STATES", "OBJECTIVES", "SEED_BASELINES", "CandidateResult", "Constraints",
    "CoreShare", "FidelityResult", "Objective", "SearchSpace", "ShareInfo", "StepRoundingSampler", "StudyHooks",
    "StudyOptions", "TrialFailed", "WorkerEntry", "arch_from_params", "enqueue_baselines", "evaluate_candidate",
    "finished_count", "is_parallel_safe", "live_on_host", "load_existing_study", "load_space", "load_study_data",
    "make_pruner", "make_sampler", "open_storage", "open_study", "parse_space", "ranked_trials", "recipe_for",
    "run_fidelity", "run_study", "run_worker", "run_workers", "sampler_seed", "select_trials", "share_of",
    "skip_reason", "spec_for_trial", "storage_for_workers", "storage_lock", "study_lock", "suggest_params",
    "worker_share", "PROXY_MODES", "Search", "set_up_search", "run_search",
    "SupernetBudget", "proxy_noise", "noise_verdict", "auto_space",
]

_HOME = {
    "SearchSpace": "space", "load_space": "space", "auto_space": "space", "parse_space": "space",
    "PROXY_MODES": "space",
    "SupernetBudget": "space", "proxy_noise": "noise", "noise_verdict": "noise",
    "SEED_BASELINES": "baselines", "enqueue_baselines": "baselines",
    "StepRoundingSampler": "sampling", "arch_from_params": "sampling", "make_pruner": "sampling",
    "make_sampler": "sampling", "sampler_seed": "sampling", "suggest_params": "sampling",
    "DONE_STATES": "study", "OBJECTIVES": "study", "finished_count": "study", "load_existing_study": "study",
    "open_study": "study",
    "skip_reason": "skip",
    "Objective": "objective", "TrialFailed": "objective", "recipe_for": "objective",
    "StudyHooks": "hooks",
    "run_study": "runner",
    "StudyOptions": "options", "load_study_data": "options",
    "Search": "launch", "set_up_search": "launch", "run_search": "launch",
    "run_worker": "workers", "run_workers": "workers", "storage_for_workers": "workers",
    "DEFAULT_JOURNAL": "storage", "DEFAULT_URL": "storage", "is_parallel_safe": "storage", "open_storage": "storage",
    "storage_lock": "storage", "study_lock": "storage",
    "WorkerEntry": "registry", "live_on_host": "registry",
    "CoreShare": "share", "ShareInfo": "share", "share_of": "share", "worker_share": "share",
    "CandidateResult": "candidate", "evaluate_candidate": "candidate",
    "Constraints": "pick", "ranked_trials": "pick", "spec_for_trial": "pick",
    "FidelityResult": "fidelity", "run_fidelity": "fidelity", "select_trials": "fidelity",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
