"""The arithmetic of the benchmark suite (`bench/suite.py`), kept apart so tests can pin it on
fixed inputs: search-vs-random time ratios, pruning savings, medians and rank correlations."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TrialRecord", "best_curve", "time_to_reach", "search_vs_random", "pruning_summary", "ratio"]


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the suite sees it: when it ended (seconds since the search started),
    its state, its score (complete trials) and how long it trained."""

    end_s: float
    state: str  # COMPLETE | PRUNED | FAIL
    score: float | None
    train_s: float
    skipped: bool = False  # pruned before training
    epochs_run: int = 0
    epochs_planned: int = 0


def best_curve(records: Sequence[TrialRecord]) -> list[tuple[float, float]]:
    """(time, best score so far) at each complete trial, in time order."""
    best, out = math.inf, []
    for r in sorted(records, key=lambda r: r.end_s):
        if r.state == "COMPLETE" and r.score is not None and r.score < best:
            best = r.score
            out.append((r.end_s, best))
    return out


def time_to_reach(records: Sequence[TrialRecord], target: float) -> float:
    """Seconds until the best score is <= target (inf if never)."""
    for t, best in best_curve(records):
        if best <= target:
            return t
    return math.inf


def search_vs_random(runs: Sequence[tuple[Sequence[TrialRecord], Sequence[TrialRecord]]]) -> dict[str, float]:
    """Per seed (default, random) records -> medians of: the default's best / random's best score,
    the time the default needed to reach random's final best / random's total time, and both
    arms' wall times. Goal: time ratio <= 0.5."""
    score_ratios, time_ratios, t_default, t_random = [], [], [], []
    for default, rand in runs:
        rand_best = min((r.score for r in rand if r.state == "COMPLETE" and r.score is not None), default=math.inf)
        def_best = min((r.score for r in default if r.state == "COMPLETE" and r.score is not None),
                       default=math.inf)
        rand_total = max(r.end_s for r in rand)
        score_ratios.append(def_best / rand_best)
        time_ratios.append(time_to_reach(default, rand_best) / rand_total)
        t_default.append(max(r.end_s for r in default))
        t_random.append(rand_total)
    return {
        "seeds": len(runs),
        "median_best_score_ratio": statistics.median(score_ratios),
        "median_time_to_random_best_ratio": statistics.median(time_ratios),
        "median_default_seconds": statistics.median(t_default),
        "median_random_seconds": statistics.median(t_random),
        "time_ratios": time_ratios,
        "score_ratios": score_ratios,
    }


def pruning_summary(pruned_runs: Sequence[Sequence[TrialRecord]],
                    unpruned_runs: Sequence[Sequence[TrialRecord]]) -> dict[str, float]:
    """Pruning's effect, per seed the same sampler with and without pruning.

    share_stopped: trials pruned or skipped before training / all finished trials.
    saved_fraction: estimated training time saved / the time the pruned run would have needed had
    every trial trained to the end (a stopped trial's full time is extrapolated from its epochs).
    best_ratio: median over seeds of best score with pruning / without (<= 1: not worse).
    """
    stopped = total = 0
    spent = would = 0.0
    best_ratios = []
    for pruned, unpruned in zip(pruned_runs, unpruned_runs):
        for r in pruned:
            if r.state not in ("COMPLETE", "PRUNED"):
                continue
            total += 1
            spent += r.train_s
            if r.state == "PRUNED":
                stopped += 1
            if r.state == "PRUNED" and r.epochs_run > 0 and r.epochs_planned > r.epochs_run:
                would += r.train_s * r.epochs_planned / r.epochs_run
            elif r.state == "PRUNED" and r.epochs_run == 0:
                would += _mean_full_time(pruned)
            else:
                would += r.train_s
        best_p = min((r.score for r in pruned if r.state == "COMPLETE" and r.score is not None), default=math.inf)
        best_u = min((r.score for r in unpruned if r.state == "COMPLETE" and r.score is not None), default=math.inf)
        best_ratios.append(best_p / best_u)
    return {
        "share_stopped": stopped / total if total else math.nan,
        "saved_fraction": 1.0 - spent / would if would else math.nan,
        "median_best_ratio": statistics.median(best_ratios) if best_ratios else math.nan,
        "best_ratios": best_ratios,
    }


def _mean_full_time(records: Sequence[TrialRecord]) -> float:
    full = [r.train_s for r in records if r.state == "COMPLETE"]
    return sum(full) / len(full) if full else 0.0


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf
