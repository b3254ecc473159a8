"""The runs behind the evidence suite (`bench/suite.py`): search arms, proxy repeats and full
retrains with one shared recipe. Each function runs one kind of thing and returns plain records;
the arithmetic lives in `bench/common/benchmarks.py`.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import optuna

from common.benchmarks import TrialRecord, evenly_spaced
from nas.data import DataSpec, KeypointDataset
from nas.deploy.retrain import retrain
from nas.deploy.spec import ArchSpec
from nas.model.arch import ArchConfig
from nas.model.cost import count_cost
from nas.search import SEED_BASELINES, run_study
from nas.search.baselines import cheapest_arch
from nas.search.objective import recipe_for
from nas.search.proxy.scratch import evaluate_candidate
from nas.search.sampling import StepRoundingSampler, arch_from_params, make_pruner, make_sampler, suggest_params
from nas.search.space import SearchSpace
from nas.search.workers.share import share_of
from nas.training.recipe import TrainConfig
from nas.training.threads import available_cores, set_threads

__all__ = ["ARMS", "DEFAULT", "Arm", "run_arm", "records", "cheapest_arch", "random_archs", "spread_archs",
           "course_arch", "trivial_roles", "proxy_errors", "Budget", "Retrained", "RetrainJob", "retrain_arch",
           "retrain_many", "trial_lines"]

TPE_SEED_OFFSET = 10_000  # TPE's start-up draws must not be plain Random's draws of the same seed


@dataclass(frozen=True)
class Arm:
    """One search arm: its sampler, whether it prunes (the percentile pruner and the skip) and whether
    its study starts with the baselines (the course report's models and the space's cheapest)."""

    name: str
    sampler: str  # random | tpe
    prune: bool
    baselines: bool = False

    def study(self, space: SearchSpace, seed: int) -> optuna.Study:
        if self.sampler == "tpe":
            sampler = make_sampler(space, seed + TPE_SEED_OFFSET)
        else:
            sampler = StepRoundingSampler(optuna.samplers.RandomSampler(seed=seed))
        pruner = make_pruner(space, "score") if self.prune else optuna.pruners.NopPruner()
        study = optuna.create_study(study_name=f"{self.name}-{seed}", sampler=sampler, pruner=pruner)
        study.set_user_attr("objective", "score")
        return study


ARMS = (Arm("random", "random", False), Arm("random_prune", "random", True), Arm("tpe", "tpe", False),
        Arm("tpe_prune", "tpe", True))
DEFAULT = Arm("default", "tpe", True, baselines=True)  # a study as `handkp-search study` runs it


def records(study: optuna.Study, t0: float = 0.0) -> list[TrialRecord]:
    """The study's finished trials, timed from `t0` (wall-clock seconds since the epoch)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.datetime_complete is None:
            continue
        ua = t.user_attrs
        out.append(TrialRecord(
            end_s=t.datetime_complete.timestamp() - t0, start_s=t.datetime_start.timestamp() - t0,
            state=t.state.name, score=ua.get("score"), cost=ua.get("cost", math.nan), px_error=ua.get("px_error"),
            skipped=bool(ua.get("skipped")), epochs=ua.get("recipe", {}).get("epochs"),
            aug=t.params.get("aug_multiplier") or 1, pruned_at_epoch=ua.get("pruned_at_epoch"),
            duplicate="duplicate_of" in ua,
        ))
    return out


def run_arm(arm: Arm, space: SearchSpace, seed: int, trials: int, data: tuple[KeypointDataset, KeypointDataset],
            device: str) -> tuple[optuna.Study, list[TrialRecord]]:
    """One study of `trials` trials (the baselines among them where the arm has them), timed."""
    study = arm.study(space, seed)
    t0 = time.time()
    run_study(study, space, *data, trials=trials, device=device, seed=seed, baselines=arm.baselines,
              skip_hopeless=arm.prune)
    return study, records(study, t0)


def trial_lines(study: optuna.Study) -> list[dict]:
    """Every finished trial of `study` as a plain line: what the skip audit replays (cost, error,
    training seconds, baseline) and what the study did with it (state, skipped, pruned at)."""
    t0 = min((t.datetime_start.timestamp() for t in study.trials if t.datetime_start), default=0.0)
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.datetime_complete is None or "cost" not in t.user_attrs:
            continue
        ua = t.user_attrs
        out.append({
            "figure": "trial", "study": study.study_name, "number": t.number, "state": t.state.name,
            "baseline": ua.get("baseline", ""), "repeat": int(ua.get("repeat", 0)),
            "arch": ArchConfig.from_dict(ua["arch"]).short(), "aug": t.params.get("aug_multiplier"),
            "cost": ua["cost"], "gflops": ua.get("gflops"), "mparams": ua.get("mparams"),
            "px_error": ua.get("px_error"), "score": ua.get("score"), "train_seconds": ua.get("train_seconds"),
            "skipped": bool(ua.get("skipped")), "pruned_at_epoch": ua.get("pruned_at_epoch"),
            "duplicate_of": ua.get("duplicate_of"),
            "device": ua.get("device", ua.get("recipe", {}).get("device")),
            "start_s": round(t.datetime_start.timestamp() - t0, 2),
            "end_s": round(t.datetime_complete.timestamp() - t0, 2),
        })
    return out


def uniform_params(trial: optuna.Trial, space: SearchSpace) -> dict:
    """A draw over the space's declared ranges, the augmentation multiplier's too whatever the proxy,
    so that a benchmark's draws do not depend on the proxy mode (and stay those of its recorded runs)."""
    return suggest_params(trial, space, space.choices.aug_multiplier)


def random_archs(space: SearchSpace, count: int, seed: int) -> list[ArchConfig]:
    """`count` architectures drawn uniformly from the space (its own sampling code, a random sampler)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(count):
        trial = study.ask()
        out.append(arch_from_params(uniform_params(trial, space), space))
        study.tell(trial, 0.0)
    return out


def spread_archs(space: SearchSpace, count: int, seed: int, draws: int = 4) -> list[tuple[ArchConfig, int]]:
    """`count` (architecture, augmentation multiplier) pairs evenly spaced over the cost range of
    `draws` x `count` uniform draws from the space."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(draws * count):
        trial = study.ask()
        params = uniform_params(trial, space)
        drawn.append((arch_from_params(params, space), int(params["aug_multiplier"])))
        study.tell(trial, 0.0)
    drawn.sort(key=lambda pair: count_cost(pair[0]).cost)
    return [drawn[i] for i in evenly_spaced(len(drawn), count)]


def course_arch(space: SearchSpace) -> ArchConfig:
    """The course report's final model (reduced MobileNetV3-small) at the space's input size."""
    return ArchConfig(**SEED_BASELINES["seed_mobilenetv3_small_reduced"], input_size=space.input_size)


def trivial_roles(space: SearchSpace, pick: ArchConfig, randoms: int) -> dict[str, ArchConfig]:
    """The trivial baselines' roles: the search's pick, the space's cheapest architecture, the course
    report's final model and `randoms` uniformly random architectures (always the same draws)."""
    return {"pick": pick, "cheapest": cheapest_arch(space), "course_report": course_arch(space),
            **{f"random{i + 1}": a for i, a in enumerate(random_archs(space, randoms, 7))}}


def proxy_errors(arch: ArchConfig, space: SearchSpace, aug: int, seeds: Sequence[int],
                 data: tuple[KeypointDataset, KeypointDataset], device: str) -> list[float]:
    """The proxy's validation error for `arch` trained once per seed (the study's proxy recipe)."""
    return [evaluate_candidate(arch, recipe_for(space, aug, device, s), *data).px_error for s in seeds]


@dataclass(frozen=True)
class Retrained:
    role: str
    arch: str
    seed: int
    score: float
    px_error: float
    gflops: float
    mparams: float
    seconds: float


def retrain_arch(role: str, arch: ArchConfig, recipe: TrainConfig, seed: int, data: DataSpec,
                 out: Path) -> Retrained:
    """A full retrain from scratch with the shared recipe and this seed, scored on the test split."""
    t0 = time.perf_counter()
    spec = ArchSpec(arch, dataclasses.replace(recipe, seed=seed))
    m = retrain(spec, data, out / f"{role}-seed{seed}", restart=True).metrics
    return Retrained(role, arch.short(), seed, m["score"], m["test_px_error"], m["gflops"], m["mparams"],
                     round(time.perf_counter() - t0, 1))


@dataclass(frozen=True)
class RetrainJob:
    """One full retrain to run: `retrain_arch`'s arguments."""

    role: str
    arch: ArchConfig
    recipe: TrainConfig
    seed: int
    data: DataSpec
    out: Path

    def run(self) -> Retrained:
        return retrain_arch(self.role, self.arch, self.recipe, self.seed, self.data, self.out)


class Budget:
    """Whether another job fits before `stop` (a `time.perf_counter()` value): when the longest job so far,
    started now, would end by then (before any has ended, every job fits)."""

    def __init__(self, stop: float) -> None:
        self.stop, self.longest = stop, 0.0

    def fits(self) -> bool:
        return time.perf_counter() + self.longest < self.stop

    def took(self, started: float) -> None:
        self.longest = max(self.longest, time.perf_counter() - started)


def retrain_many(jobs: Sequence[RetrainJob], workers: int = 1, stop: float = math.inf) -> Iterator[Retrained]:
    """Every job's retrain as it finishes: here, or in `workers` processes that share the cores
    (each takes its share of the cores, as a study's workers do). On 2 cores two one-thread processes train 1.3-1.7x the
    images per second of one two-thread process (docs/results/workers-threads.jsonl).

    Jobs start seed by seed (every architecture's first seed, then its second, ...), the dearest first
    within a seed so that the last to finish is a short one. With a `stop` (a `time.perf_counter()`
    value) a job starts only while the longest one so far would still end by then: a run with too
    little time so ends on its own with every architecture's first seeds, not cut off mid-job."""
    order, budget = iter(sorted(jobs, key=lambda j: (j.seed, -count_cost(j.arch).cost))), Budget(stop)
    if workers <= 1:
        while budget.fits() and (job := next(order, None)):
            t0 = time.perf_counter()
            result = job.run()
            budget.took(t0)
            yield result
        return
    threads = share_of(available_cores(), workers)
    ctx = multiprocessing.get_context("spawn")  # a fork of a process whose torch threads ran can hang
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=set_threads, initargs=(threads,)) as pool:
        started: dict[Future, float] = {}
        while True:  # submit only what starts now, so that nothing waits in the pool to start too late
            while len(started) < workers and budget.fits() and (job := next(order, None)):
                started[pool.submit(job.run)] = time.perf_counter()
            if not started:
                return
            done, _ = wait(started, return_when=FIRST_COMPLETED)
            for f in done:
                budget.took(started.pop(f))
            yield from (f.result() for f in done)
