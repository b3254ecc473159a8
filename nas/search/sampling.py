"""What a trial samples and how: the parameters, the sampler and pruner, and per-worker seeds.

Stepped floats are stored as written on their grid: Optuna computes a step sample as
`low + k x step` (0.25 + 14 x 0.05 = 0.9500000000000001); `StepRoundingSampler` rounds it before
it reaches the storage, so the report, `pick` and optuna-dashboard all show 0.95.
"""
from __future__ import annotations

import os
import socket
import warnings
import zlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import FrozenTrial, Trial

from nas.model.arch import ArchConfig
from nas.search.baselines import SEED_BASELINES
from nas.search.space import FloatRange, IntRange, SearchSpace
from nas.search.workers.storage import is_parallel_safe

__all__ = [
    "StepRoundingSampler", "arch_from_params", "make_pruner", "make_sampler", "on_grid", "sampler_seed",
    "suggest_params",
]


def _suggest_float(trial: Trial, name: str, r: FloatRange) -> float:
    if r.low == r.high:
        return trial.suggest_float(name, r.low, r.high)
    return trial.suggest_float(name, r.low, r.high, step=r.step, log=r.log)


def suggest_params(trial: Trial, space: SearchSpace, aug: IntRange | None = None) -> dict[str, Any]:
    """One point of the space (a baseline's fixed values when the trial was enqueued with them); the
    augmentation multiplier from `aug`, by default the multipliers the space's trials draw from
    (`SearchSpace.aug_range`)."""
    c, aug = space.choices, aug or space.aug_range()
    return {
        "backbone": trial.suggest_categorical("backbone", list(c.backbone)),
        "backbone_width": _suggest_float(trial, "backbone_width", c.backbone_width),
        "head_depth": trial.suggest_int("head_depth", c.head_depth.low, c.head_depth.high),
        "head_width": _suggest_float(trial, "head_width", c.head_width),
        "aug_multiplier": trial.suggest_int("aug_multiplier", aug.low, aug.high),
    }


def arch_from_params(params: Mapping[str, Any], space: SearchSpace) -> ArchConfig:
    """The architecture a trial's parameters describe (deployed at the space's input size)."""
    return ArchConfig(
        backbone=params["backbone"],
        backbone_width=round(float(params["backbone_width"]), 6),  # studies stored unrounded
        head_depth=int(params["head_depth"]),
        head_width=round(float(params["head_width"]), 6),
        input_size=space.input_size,
    )


def _decimals(x: float) -> int:
    return max(0, -int(Decimal(repr(x)).normalize().as_tuple().exponent))


def on_grid(value: Any, distribution: BaseDistribution) -> Any:
    """`value` rounded to the decimals of its distribution's low and step (stepped floats only)."""
    if not isinstance(distribution, FloatDistribution) or distribution.step is None:
        return value
    return round(value, max(_decimals(distribution.step), _decimals(distribution.low)))


class StepRoundingSampler(optuna.samplers.BaseSampler):
    """Another sampler whose stepped float samples are rounded onto the step grid before they are stored."""

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        sampled = self.base.sample_relative(study, trial, search_space)
        return {name: on_grid(v, search_space[name]) for name, v in sampled.items()}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        value = self.base.sample_independent(study, trial, param_name, param_distribution)
        return on_grid(value, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: optuna.trial.TrialState,
                    values: Any) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def make_sampler(space: SearchSpace, seed: int = 0) -> StepRoundingSampler:
    """Multivariate TPE (constant liar: running trials count as bad, so parallel workers spread out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=space.search.startup_trials, multivariate=True, constant_liar=True
        )
    return StepRoundingSampler(tpe)


def make_pruner(space: SearchSpace, objective: str) -> optuna.pruners.BasePruner:
    """The percentile pruner on epoch scores, after the baselines; none for pareto (Optuna cannot
    prune multi-objective trials)."""
    if objective != "score":
        return optuna.pruners.NopPruner()
    s = space.search
    return optuna.pruners.PercentilePruner(
        s.prune_percentile, n_startup_trials=len(SEED_BASELINES),
        n_warmup_steps=s.prune_warmup_epochs * s.checks_per_epoch,  # steps count checks (nas.search.checks)
    )


def sampler_seed(seed: int, storage: str, worker_index: int | None = None) -> int:
    """Workers sharing a study must not draw the same random start-up trials: each gets its own
    sampler seed (by worker index, else by host and process). A lone SQLite process keeps `seed`."""
    if worker_index is not None:
        return seed + 1000 * (worker_index + 1)
    if not is_parallel_safe(storage):
        return seed
    return seed + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000
