"""One trial: sample -> build -> cost -> skip? -> train (pruned at checks within epochs) -> record.

Everything a trial did is stored on it as user attributes, so the report, `pick` and
optuna-dashboard read only the storage. Two objectives:

- score (default): minimise GFLOPs x MParams x exp(px error). Each epoch's end and `checks_per_epoch
  - 1` checks within it report the partial score cost x exp(current validation error), so the
  percentile pruner compares trials on the real ranking score and can stop a short proxy early; it
  never prunes at the last report, where the trial has spent its budget. A trial is skipped before
  training by the rule in `nas.search.skip`.
- pareto: three objectives (GFLOPs, MParams, px error). Optuna cannot prune multi-objective
  trials, so every trial trains to the end.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, Trial, TrialState

from nas.data.dataset import KeypointDataset
from nas.errors import NasError, TrainingDiverged
from nas.keypoints.metrics import mean_pose_error
from nas.model.arch import ArchConfig
from nas.model.cost import Cost, count_cost, score_of
from nas.search.checks import check_step
from nas.search.hooks import StudyHooks
from nas.search.proxy.modes import Proxy, ScratchProxy
from nas.search.proxy.scratch import CandidateResult
from nas.search.sampling import arch_from_params, suggest_params
from nas.search.skip import evidence, skip_reason
from nas.search.space import SearchSpace
from nas.search.workers.share import CoreShare, worker_attrs
from nas.training.device import resolve_device, resolve_recipe
from nas.training.recipe import RUNTIME_FIELDS, TrainConfig
from nas.training.trainer import EpochStats

__all__ = ["Objective", "TrialFailed", "recipe_for"]

Value = float | tuple[float, float, float]
REPEAT_SEED_STEP = 1000  # a repeat trains with seed + this x its `repeat` number (nas.search.baselines)
SHARE_RECOUNT_S = 5.0  # how often a training worker re-counts the study's workers on its host (one storage read)


class TrialFailed(NasError):
    """A trial could not finish (diverged, out of memory); recorded as FAIL, the study goes on."""


def recipe_for(space: SearchSpace, aug_multiplier: int, device: str, seed: int) -> TrainConfig:
    """The space's proxy recipe with the trial's augmentation multiplier, on this worker's device."""
    recipe = dataclasses.replace(space.proxy.recipe, aug_multiplier=aug_multiplier, device=device, seed=seed)
    return resolve_recipe(recipe)  # memory format resolved for this device, so the trial records what ran


def _set_attrs(trial: Trial, attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        trial.set_user_attr(k, v)


def _cost_attrs(cost: Cost) -> dict[str, float]:
    return {"gflops": cost.gflops, "mparams": cost.mparams, "true_gmacs": cost.true_gmacs, "cost": cost.cost}


def _result_attrs(result: CandidateResult) -> dict[str, Any]:
    t = result.training
    return {
        "px_error": result.px_error, "px_error_is_estimate": result.estimate, "pck": t.pck, "auc": t.auc,
        "score": result.score, "train_seconds": t.train_seconds, "images_per_s": t.images_per_s,
        "best_epoch": t.best_epoch, "history_px": [h.px_error for h in t.history], "compute": t.compute,
        **({"compute_note": t.note} if t.note else {}),
    }


def _device_name(device: str) -> str:
    """The device a trial trains on, with its index on CUDA (`cuda:1`), as the trial records it."""
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(dev)


_RESULT_KEYS = ("px_error", "px_error_is_estimate", "pck", "auc", "score", "train_seconds", "images_per_s",
                "best_epoch", "history_px", "compute")


def _learned(recipe: dict[str, Any]) -> dict[str, Any]:
    """A recipe's fields that decide what a run learns (not where or how fast it computes)."""
    return {k: v for k, v in recipe.items() if k not in RUNTIME_FIELDS}


def _twin(done: list[FrozenTrial], arch: dict[str, Any], learned: dict[str, Any]) -> FrozenTrial | None:
    """The first of the complete trials `done` that is no repeat or duplicate and has this architecture and recipe."""
    for t in done:
        ua = t.user_attrs
        if ua.get("arch") == arch and not ua.get("repeat") and "duplicate_of" not in ua \
                and _learned(ua.get("recipe", {})) == learned:
            return t
    return None


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in str(exc).lower()


@dataclass
class Objective:
    """Called once per trial; holds what stays fixed across a worker's trials (space, data, device)."""

    space: SearchSpace
    objective: str
    train_data: KeypointDataset
    val_data: KeypointDataset
    _: KW_ONLY
    device: str = "auto"
    seed: int = 0
    hooks: StudyHooks | None = None
    skip_hopeless: bool = True  # the pre-training skip rule (nas.search.skip), where the space has it on
    share: CoreShare | None = None  # this worker's share of the cores (None: leave torch's threads alone)
    proxy: Proxy | None = None  # how a candidate's error is estimated (None: trained from scratch)
    reuse_duplicates: bool = True  # a draw a complete trial already evaluated takes its result
    _threads: int = field(default=0, init=False, repr=False)  # the current trial's last recorded threads
    _mean_pose_px: float | None = field(default=None, init=False, repr=False)

    def mean_pose_attrs(self) -> dict[str, float]:
        """`mean_pose_px`: the validation error of predicting the training set's mean pose, in
        deployed-input pixels (nothing when the worker holds no data)."""
        t, v = self.train_data, self.val_data
        if t is None or v is None:
            return {}
        if self._mean_pose_px is None:
            px = mean_pose_error(t.keypoints, t.visibility, v.keypoints, v.visibility)
            self._mean_pose_px = px * self.space.input_size / v.size
        return {"mean_pose_px": self._mean_pose_px}

    def __call__(self, trial: Trial) -> Value:
        attrs = worker_attrs(self.share)  # re-counts the study's workers: this trial starts with its share
        self._threads = attrs["worker_threads"]
        _set_attrs(trial, attrs)
        params = self._sample(trial)
        arch = arch_from_params(params, self.space)
        repeat = int(trial.user_attrs.get("repeat", 0))  # a baseline trained again: another seed, same model
        recipe = recipe_for(self.space, params["aug_multiplier"], self.device, self.seed + REPEAT_SEED_STEP * repeat)
        baseline = trial.user_attrs.get("baseline")
        if self.hooks:
            self.hooks.trial_started(trial.number, arch, baseline)
        cost = count_cost(arch)
        _set_attrs(trial, {"arch": arch.to_dict(), "recipe": recipe.to_dict(), "device": _device_name(self.device),
                           **self.mean_pose_attrs(), **_cost_attrs(cost)})
        # the complete trials, read once: a repeated draw takes its twin's result, a candidate may be skipped
        done = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if baseline is None else []
        if baseline is None and self.reuse_duplicates:
            reused = self._reuse(trial, done, arch, recipe)
            if reused is not None:
                return reused
        contender = self.objective == "score" and baseline is None  # baselines (and repeats): always trained
        if contender and self.skip_hopeless and self.space.search.pre_train_skip:
            self._skip_if_hopeless(trial, done, cost, recipe.aug_multiplier)
        result = self._train(trial, arch, recipe, cost, prune=contender)
        return self._record(trial, cost, result)

    def _reuse(self, trial: Trial, done: list[FrozenTrial], arch: ArchConfig, recipe: TrainConfig) -> Value | None:
        """The value of a complete trial with this architecture and recipe (seeded repeats aside), recorded
        on this trial with `duplicate_of` so the sampler learns it again while the leaderboard and report
        count the architecture once; None when there is none."""
        twin = _twin(done, arch.to_dict(), _learned(recipe.to_dict()))
        if twin is None:
            return None
        _set_attrs(trial, {**{k: v for k, v in twin.user_attrs.items() if k in _RESULT_KEYS},
                           "duplicate_of": twin.number, "proxy_mode": twin.user_attrs.get("proxy_mode")})
        return twin.value if self.objective == "score" else tuple(twin.values)

    def _sample(self, trial: Trial) -> dict[str, Any]:
        with warnings.catch_warnings():
            # baselines are fixed points that may lie outside a narrowed space; optuna warns, we know
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            return suggest_params(trial, self.space)

    def _skip_if_hopeless(self, trial: Trial, done: list[FrozenTrial], cost: Cost, aug: int) -> None:
        search = self.space.search
        reason = skip_reason(evidence(done), cost.cost, search.pre_train_margin_px, aug=aug,
                             min_peers=search.pre_train_min_peers)
        if reason:
            _set_attrs(trial, {"skipped": True, "reason": reason})
            raise optuna.TrialPruned(reason)

    def _record(self, trial: Trial, cost: Cost, result: CandidateResult) -> Value:
        _set_attrs(trial, _result_attrs(result))
        if self.objective == "score":
            return result.score
        return cost.gflops, cost.mparams, result.px_error

    def _follow_share(self, trial: Trial) -> None:
        """Between epochs (and every few seconds of steps): take a new share of the cores if workers came
        or went; the trial keeps the last value as `worker_threads_end` (beside `worker_threads`)."""
        if self.share is None:
            return
        threads = self.share.refresh()
        if threads != self._threads:
            trial.set_user_attr("worker_threads_end", threads)
            self._threads = threads

    def _on_step(self, trial: Trial) -> Callable[[int, int], None] | None:
        """Per step: progress, and a re-count of the workers at most every SHARE_RECOUNT_S seconds, so a
        worker that started alone gives up its extra cores within seconds when another one joins."""
        if self.share is None and self.hooks is None:
            return None
        last = [time.monotonic()]

        def on_step(done: int, total: int) -> None:
            if self.hooks:
                self.hooks.step(done, total)
            if self.share is not None and time.monotonic() - last[0] >= SHARE_RECOUNT_S:
                last[0] = time.monotonic()
                self._follow_share(trial)

        return on_step

    def _report(self, trial: Trial, cost: Cost, prune: bool, last_step: int) -> Callable[[int, float], None]:
        """Report a partial score cost x exp(error) at `step` (checks, `nas.search.checks`) and stop the
        trial if the pruner says so; never at the last step, where the trial has spent its budget."""
        per_epoch = self.space.search.checks_per_epoch

        def report(step: int, px_error: float) -> None:
            partial = score_of(cost.cost, px_error)
            trial.report(partial, step)
            if prune and step < last_step and trial.should_prune():
                at = f"epoch {step / per_epoch:g}"
                reason = (f"pruned at {at}: partial score {partial:.4g} ({px_error:.2f} px) worse than the "
                          f"{self.space.search.prune_percentile:g}th percentile")
                _set_attrs(trial, {"reason": reason, "pruned_at_epoch": step / per_epoch})
                raise optuna.TrialPruned(reason)

        return report

    def _on_epoch(self, trial: Trial, report: Callable[[int, float], None]) -> Callable[[EpochStats], None]:
        """Per epoch: progress, the share of cores, and the epoch's partial score."""
        history: list[float] = []

        def on_epoch(stats: EpochStats) -> None:
            history.append(stats.px_error)
            trial.set_user_attr("history_px", history)
            if self.hooks:
                self.hooks.epoch(stats)
            self._follow_share(trial)
            if self.objective == "score":
                report(check_step(stats.epoch, self.space.search.checks_per_epoch), stats.px_error)

        return on_epoch

    def _train(self, trial: Trial, arch: ArchConfig, recipe: TrainConfig, cost: Cost, prune: bool) -> CandidateResult:
        """The proxy training; divergence and running out of memory fail this trial, not the study."""
        started = time.perf_counter()
        report = self._report(trial, cost, prune, check_step(recipe.epochs, self.space.search.checks_per_epoch))
        on_epoch = self._on_epoch(trial, report)
        on_step = self._on_step(trial)
        search = self.space.search
        proxy = self.proxy or ScratchProxy(self.train_data, self.val_data, search.checks_per_epoch, search.check_images)
        trial.set_user_attr("proxy_mode", proxy.mode)
        on_check = report if self.objective == "score" else None  # baselines too: the pruner compares with them
        try:
            return proxy.evaluate(arch, recipe, cost, on_epoch, on_step, on_check)
        except TrainingDiverged as exc:
            trial.set_user_attr("reason", f"diverged: {exc}")
            raise TrialFailed(f"trial {trial.number} diverged: {exc}") from None
        except (RuntimeError, MemoryError) as exc:
            if not _is_oom(exc):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            trial.set_user_attr("reason", f"out of memory after {time.perf_counter() - started:.0f} s: {exc}")
            raise TrialFailed(f"trial {trial.number} ran out of memory") from None
