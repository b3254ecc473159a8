"""The Optuna study: sample -> build -> cost -> (skip?) -> train with pruning -> record.

Everything a trial did is stored on the trial as user attributes, so the report, `pick` and
optuna-dashboard read only the storage. Two objectives:

- score (default): minimise GFLOPs x MParams x exp(px error) with TPE. Each epoch reports the
  partial score cost x exp(current validation error), so the percentile pruner compares trials on
  the real ranking score. Because cost is exact before training, a trial whose cost cannot beat
  the best score even at the lowest error seen so far minus a margin (`search.pre_train_margin_px`)
  is pruned without training (`skipped`).
- pareto: three objectives (GFLOPs, MParams, px error) with multi-objective TPE. Optuna cannot
  prune multi-objective trials, so every trial trains to the end.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import optuna
import torch
from optuna.trial import FrozenTrial, Trial, TrialState

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError, NasError, StudyError, TrainingDiverged
from nas.model.arch import ArchConfig
from nas.model.cost import Cost, count_cost
from nas.search.candidate import evaluate_candidate
from nas.search.space import FloatRange, SearchSpace, arch_from_params
from nas.training.recipe import TrainConfig
from nas.training.trainer import EpochStats

__all__ = [
    "OBJECTIVES",
    "SEED_BASELINES",
    "TrialFailed",
    "StudyHooks",
    "open_study",
    "load_existing_study",
    "enqueue_baselines",
    "finished_count",
    "run_study",
    "recipe_for",
    "suggest_params",
]

OBJECTIVES = ("score", "pareto")
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)

# The seed report's three models expressed in our space (their published cost beside ours at 224):
#   MobileNetV2 + full head      1.031 GFLOPs / 4.152 M  -> ours 0.924 / 3.125
#   MobileNetV3-small + full head 0.474 / 2.585          -> ours 0.626 / 2.502
#   reduced MobileNetV3-small    0.3026 / 2.008 (285.6)  -> ours 0.346 / 1.689
# The "full head" is the paper's: one residual block plus one [1x1 -> dw -> 1x1] block (depth 2)
# at 512 channels; the seed trained with 7 augmented copies.
SEED_BASELINES: dict[str, dict[str, Any]] = {
    "seed_mobilenetv2_full": dict(
        backbone="mobilenetv2", backbone_width=1.0, head_depth=2, head_width=2.0, aug_multiplier=7
    ),
    "seed_mobilenetv3_small_full": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=2.0, aug_multiplier=7
    ),
    "seed_mobilenetv3_small_reduced": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=1.25, aug_multiplier=7
    ),
}


class TrialFailed(NasError):
    """A trial could not finish (diverged, out of memory); recorded as FAIL, the study goes on."""


class StudyHooks(Protocol):
    def trial_started(self, number: int, arch: ArchConfig, baseline: str | None) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def trial_finished(self, trial: FrozenTrial) -> None: ...


# --- opening --------------------------------------------------------------------------------
def _storage(url: str):
    from nas.search.storage import open_storage

    return open_storage(url)


def load_existing_study(name: str, storage: str) -> optuna.Study:
    """An existing study; unknown names raise StudyError listing the known ones."""
    st = _storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(st)]
        listing = ", ".join(known) if known else "none"
        raise StudyError(f"study {name!r} not found in {storage} (studies there: {listing})") from None


def open_study(name: str, storage: str, objective: str, space: SearchSpace, seed: int = 0) -> optuna.Study:
    """Create the study or resume it; refuses to resume with a different objective."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective: {objective!r} is not one of {', '.join(OBJECTIVES)}")
    st = _storage(storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=space.search.startup_trials, multivariate=True, constant_liar=True
        )
    s = space.search
    pruner = optuna.pruners.PercentilePruner(
        s.prune_percentile, n_startup_trials=len(SEED_BASELINES), n_warmup_steps=s.prune_warmup_epochs
    )
    kwargs = dict(study_name=name, storage=st, sampler=sampler, load_if_exists=True)
    if objective == "score":
        study = optuna.create_study(direction="minimize", pruner=pruner, **kwargs)
    else:
        study = optuna.create_study(directions=["minimize"] * 3, pruner=optuna.pruners.NopPruner(), **kwargs)
    stored = study.user_attrs.get("objective")
    if stored is not None and stored != objective:
        raise StudyError(f"study {name!r} was created with --objective {stored}, not {objective}")
    if stored is None:
        study.set_user_attr("objective", objective)
        study.set_user_attr("space", space.to_dict())
        study.set_user_attr("space_file", space.source)
    return study


def enqueue_baselines(study: optuna.Study, space: SearchSpace) -> None:
    """Enqueue the seed models once per study (skip_if_exists guards against re-enqueueing).

    Baselines whose backbone the space excludes are left out; numeric values outside a narrowed
    space are still used as given (they are fixed reference points, not samples).
    """
    for name, params in SEED_BASELINES.items():
        if params["backbone"] not in space.choices.backbone:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.enqueue_trial(params, user_attrs={"baseline": name}, skip_if_exists=True)


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=DONE_STATES))


# --- one trial ------------------------------------------------------------------------------
def _suggest_float(trial: Trial, name: str, r: FloatRange) -> float:
    if r.low == r.high:
        return trial.suggest_float(name, r.low, r.high)
    return trial.suggest_float(name, r.low, r.high, step=r.step, log=r.log)


def suggest_params(trial: Trial, space: SearchSpace) -> dict[str, Any]:
    c = space.choices
    return {
        "backbone": trial.suggest_categorical("backbone", list(c.backbone)),
        "backbone_width": _suggest_float(trial, "backbone_width", c.backbone_width),
        "head_depth": trial.suggest_int("head_depth", c.head_depth.low, c.head_depth.high),
        "head_width": _suggest_float(trial, "head_width", c.head_width),
        "aug_multiplier": trial.suggest_int("aug_multiplier", c.aug_multiplier.low, c.aug_multiplier.high),
    }


def recipe_for(space: SearchSpace, aug_multiplier: int, device: str, seed: int) -> TrainConfig:
    p = space.proxy
    return TrainConfig(
        epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, lr_min=p.lr_min, aug_multiplier=aug_multiplier,
        rotation=p.rotation, loss=p.loss, sigma=p.sigma, device=device, seed=seed,
    )


def _cost_attrs(cost: Cost) -> dict[str, float]:
    return {"gflops": cost.gflops, "mparams": cost.mparams, "true_gmacs": cost.true_gmacs, "cost": cost.cost}


def _skip_reason(study: optuna.Study, cost: Cost, margin: float) -> str | None:
    """Why a trial cannot win even at the best error seen minus `margin`; None if it can."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "score" in t.user_attrs]
    if not done:
        return None
    best = min(t.user_attrs["score"] for t in done)
    min_err = min(t.user_attrs["px_error"] for t in done)
    bound = cost.cost * math.exp(max(0.0, min_err - margin))
    if bound < best:
        return None
    return (
        f"skipped before training: cost {cost.cost:.4g} x exp({min_err:.2f} px best error - {margin:g} px margin)"
        f" = {bound:.4g} >= best score {best:.4g}"
    )


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or "out of memory" in str(exc).lower()


@dataclass
class Objective:
    space: SearchSpace
    objective: str
    train_data: KeypointDataset
    val_data: KeypointDataset
    device: str = "auto"
    seed: int = 0
    hooks: StudyHooks | None = None
    before_trial: Callable[[], None] | None = None  # called first in every trial (run_study releases its lock)
    skip_hopeless: bool = True  # prune, without training, trials whose cost alone cannot win

    def __call__(self, trial: Trial) -> float | tuple[float, float, float]:
        if self.before_trial is not None:
            self.before_trial()
        try:
            return self._run(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("reason", "interrupted")  # optuna then records the trial as failed
            raise

    def _run(self, trial: Trial) -> float | tuple[float, float, float]:
        with warnings.catch_warnings():
            # baselines are fixed points that may lie outside a narrowed space; optuna warns, we know
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            params = suggest_params(trial, self.space)
        arch = arch_from_params(params, self.space)
        baseline = trial.user_attrs.get("baseline")
        recipe = recipe_for(self.space, params["aug_multiplier"], self.device, self.seed)
        if self.hooks:
            self.hooks.trial_started(trial.number, arch, baseline)
        cost = count_cost(arch)
        trial.set_user_attr("arch", arch.to_dict())
        trial.set_user_attr("recipe", recipe.to_dict())
        for k, v in _cost_attrs(cost).items():
            trial.set_user_attr(k, v)
        scoring = self.objective == "score"
        if scoring and baseline is None and self.skip_hopeless:
            reason = _skip_reason(trial.study, cost, self.space.search.pre_train_margin_px)
            if reason:
                trial.set_user_attr("skipped", True)
                trial.set_user_attr("reason", reason)
                raise optuna.TrialPruned(reason)
        result = self._train(trial, arch, recipe, cost, prune=scoring and baseline is None)
        t = result.training
        attrs = {
            "px_error": result.px_error, "px_error_is_estimate": result.estimate, "pck": t.pck, "auc": t.auc,
            "score": result.score, "train_seconds": t.train_seconds, "images_per_s": t.images_per_s,
            "best_epoch": t.best_epoch, "history_px": [h.px_error for h in t.history],
        }
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        if scoring:
            return result.score
        return cost.gflops, cost.mparams, result.px_error

    def _train(self, trial: Trial, arch: ArchConfig, recipe: TrainConfig, cost: Cost, prune: bool):
        history: list[float] = []

        def on_epoch(stats: EpochStats) -> None:
            history.append(stats.px_error)
            if self.hooks:
                self.hooks.epoch(stats)
            if self.objective != "score":
                return
            partial = cost.cost * math.exp(stats.px_error)
            trial.report(partial, stats.epoch)
            if prune and trial.should_prune():
                reason = (
                    f"pruned at epoch {stats.epoch}: partial score {partial:.4g} "
                    f"({stats.px_error:.2f} px) worse than the {self.space.search.prune_percentile:g}th percentile"
                )
                trial.set_user_attr("reason", reason)
                trial.set_user_attr("history_px", history)
                raise optuna.TrialPruned(reason)

        started = time.perf_counter()
        try:
            return evaluate_candidate(
                arch, recipe, self.train_data, self.val_data, cost, on_epoch,
                self.hooks.step if self.hooks else None,
            )
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


def _counts(study: optuna.Study) -> tuple[int, int]:
    finished = running = 0
    for t in study.get_trials(deepcopy=False, states=(*DONE_STATES, TrialState.RUNNING)):
        if t.state == TrialState.RUNNING:
            running += 1
        else:
            finished += 1
    return finished, running


def run_study(
    study: optuna.Study,
    space: SearchSpace,
    n_trials: int,
    train_data: KeypointDataset,
    val_data: KeypointDataset,
    timeout: float | None = None,
    device: str = "auto",
    seed: int = 0,
    hooks: StudyHooks | None = None,
    storage_url: str | None = None,
    poll_s: float = 2.0,
    baselines: bool = True,
    skip_hopeless: bool = True,
) -> int:
    """Run trials until the study holds `n_trials` finished (complete or pruned) trials, counting
    every worker's; returns how many this process ran.

    Several processes (any machines) may run this on one study: checking the count and creating a
    trial happen under one storage-wide lock (`storage_url`), so the total is honoured across
    workers and no trial runs twice. While the remaining trials are all running elsewhere, a
    worker waits: if one of those workers dies, its trial goes stale (heartbeats), is marked
    failed, retried once, and a waiting worker picks the retry up. Failed trials (diverged, out
    of memory, interrupted) are recorded with their reason and do not count. `baselines=False`
    and `skip_hopeless=False` turn off the seed baselines and the pre-training skip (benchmarks).
    """
    import contextlib

    from nas.search.storage import storage_lock

    def lock():
        return storage_lock(storage_url, f"study:{study.study_name}") if storage_url else contextlib.nullcontext()

    objective = study.user_attrs.get("objective", "score")
    if baselines:
        with lock():
            enqueue_baselines(study, space)
    callbacks: list[Callable] = []
    if hooks:
        callbacks.append(lambda _s, t: hooks.trial_finished(t))
    fn = Objective(space, objective, train_data, val_data, device, seed, hooks, skip_hopeless=skip_hopeless)
    deadline = None if timeout is None else time.monotonic() + timeout
    ran = 0
    while deadline is None or time.monotonic() < deadline:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # dead workers' trials -> failed, retried once
        held = lock()
        held.__enter__()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                held.__exit__(None, None, None)

        try:
            finished, running = _counts(study)
            if finished >= n_trials:
                break
            if finished + running >= n_trials:  # the rest is running elsewhere: wait for it
                release()
                time.sleep(poll_s)
                continue
            fn.before_trial = release  # the trial now exists (RUNNING): other workers may look
            try:
                study.optimize(fn, n_trials=1, catch=(TrialFailed,), callbacks=callbacks)
            except optuna.exceptions.UpdateFinishedTrialError:
                # another worker judged this trial stale (no heartbeat within the grace period, e.g. an
                # overloaded machine), failed it and enqueued its retry: go on with the next trial
                pass
            ran += 1
        finally:
            release()
        if ran > 3 * n_trials:  # everything keeps failing: stop, do not spin
            break
    return ran
