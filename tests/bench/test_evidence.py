"""The evidence suite's retrains: run side by side in processes, they give what they give here; the
order they start in, and none started that would end past a stop."""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from common import evidence
from common.evidence import RetrainJob, retrain_many

from nas.data import DataSpec
from nas.model.arch import ArchConfig
from nas.training.recipe import full_recipe


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_retrains_in_two_processes_match_the_same_retrain_here(tmp_path):
    arch = ArchConfig(backbone="mobilenetv3_small", backbone_width=0.25, head_depth=1, head_width=0.125,
                      input_size=64)
    recipe = full_recipe(aug_multiplier=1, epochs=1, batch_size=8, device="cpu")
    data = DataSpec(train_images=16, val_images=8, test_images=8, seed=3)
    jobs = [RetrainJob("a", arch, recipe, seed, data, tmp_path / "pool") for seed in (0, 1)]

    pooled = {r.seed: r for r in retrain_many(jobs, workers=2)}
    here = next(retrain_many(jobs[:1], workers=1))

    assert sorted(pooled) == [0, 1]  # every job once
    assert (tmp_path / "pool" / "a-seed1" / "metrics.json").is_file()
    # same seed, same numbers whatever the process layout (threads may reorder float sums slightly)
    assert abs(pooled[0].px_error - here.px_error) <= 1e-6 * here.px_error
    assert abs(pooled[0].px_error - pooled[1].px_error) > 1e-6 * here.px_error  # the seed reaches the child


class _Clock:
    """A stand-in for `time` whose perf_counter only the fake jobs move."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@dataclasses.dataclass
class _Job:
    """A job of `seconds` on the fake clock, with a retrain job's fields `retrain_many` reads."""

    arch: ArchConfig
    seed: int
    seconds: float
    clock: _Clock
    ran: list

    def run(self) -> tuple[str, int]:
        self.clock.now += self.seconds
        self.ran.append((self.arch.backbone_width, self.seed))
        return self.ran[-1]


def _jobs(clock: _Clock, ran: list, seconds: float = 10.0) -> list[_Job]:
    archs = [ArchConfig("mobilenetv3_small", w, 1, 0.25, input_size=64) for w in (0.25, 1.0)]
    return [_Job(a, s, seconds, clock, ran) for a in archs for s in range(3)]


def test_jobs_start_seed_by_seed_the_dearest_first(monkeypatch):
    clock, ran = _Clock(), []
    monkeypatch.setattr(evidence, "time", clock)
    assert len(list(retrain_many(_jobs(clock, ran)))) == 6
    assert ran == [(1.0, 0), (0.25, 0), (1.0, 1), (0.25, 1), (1.0, 2), (0.25, 2)]


def test_a_job_starts_only_while_the_longest_so_far_would_end_before_the_stop(monkeypatch):
    clock, ran = _Clock(), []
    monkeypatch.setattr(evidence, "time", clock)
    # 10 s each: the first starts (nothing measured yet), then each while now + 10 < 35: at 0, 10, 20
    assert len(list(retrain_many(_jobs(clock, ran), stop=35.0))) == 3 and clock.now == 30.0
    clock.now, ran[:] = 100.0, []
    assert list(retrain_many(_jobs(clock, ran), stop=50.0)) == []  # past the stop: none starts


def test_in_processes_no_job_starts_after_the_stop(monkeypatch):
    # the pool's submission loop, with threads for processes (the slow test above runs real ones)
    monkeypatch.setattr(evidence, "ProcessPoolExecutor", lambda n, **_: ThreadPoolExecutor(n))
    clock, ran = _Clock(), []
    assert len(list(retrain_many(_jobs(clock, ran, seconds=0.0), workers=2))) == 6
    assert sorted(ran) == sorted((a, s) for a in (0.25, 1.0) for s in range(3))
    ran[:] = []
    assert list(retrain_many(_jobs(clock, ran), workers=2, stop=time.perf_counter() - 1)) == [] and ran == []
