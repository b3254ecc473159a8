"""The arithmetic of the evidence suite (`bench/suite.py`), kept apart so tests pin it on fixed
inputs: the four-arm search comparison, measured pruning savings and the pre-training skip audit.

Definitions (each chosen so that an arm identical to plain Random cannot meet the goal):

- target (per seed): the best score plain Random reaches by its end.
- time to target: seconds from a study's start until its best score is <= the target; infinity when
  it never gets there. An arm's time ratio is its time to target / plain Random's own time to target
  (the moment Random found its final best), so a copy of Random scores exactly 1.
- pruning savings: the wall time of the same sampler with and without pruning and the skip, both
  executed and timed; nothing is extrapolated.
- skip audit: bench/common/replay.py (a run that trained everything, replayed with the rule active).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TrialRecord", "best_curve", "time_to_reach", "best_score", "wall_time", "four_arms",
           "pruning_measured", "ratio", "pick_below",
           "median_or_inf", "finite", "json_safe", "evenly_spaced"]


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the suite sees it: when it started and ended (seconds since its study
    started), its state, cost and result, and whether it was skipped before training."""

    end_s: float
    state: str  # COMPLETE | PRUNED | FAIL
    score: float | None
    cost: float = math.nan
    px_error: float | None = None
    start_s: float = 0.0
    skipped: bool = False  # pruned before training
    epochs: int | None = None  # of its training recipe (None: not recorded)
    aug: int = 1  # its augmentation multiplier: passes over the proxy's images per epoch
    pruned_at_epoch: float | None = None  # where the pruner stopped it (checks within epochs as fractions)
    duplicate: bool = False  # took an earlier identical trial's result, trained nothing

    @property
    def budget(self) -> float:
        """Passes over the proxy's images its recipe trains."""
        return self.epochs * self.aug if self.epochs else math.nan


def training_saved(records: Sequence[TrialRecord]) -> dict[str, Any]:
    """What the pruner and the skip kept from training, in passes over the proxy's images (one study's
    trials train the same images, so passes compare across its trials): `pruning_saved_share`, the
    passes pruned trials did not train over the budgets of the trials that trained;
    `skipped_budget_share`, the skipped trials' budgets over all budgets (what they would have
    trained had nothing stopped them); `pruned_at_last_report`, prunes at the end of a budget (they
    save nothing). Duplicates, which train nothing either way, are left out."""
    own = [r for r in records if not r.duplicate and r.state in ("COMPLETE", "PRUNED") and r.epochs]
    trained = [r for r in own if not r.skipped]
    pruned = [r for r in trained if r.state == "PRUNED" and r.pruned_at_epoch is not None]
    unspent = sum((r.epochs - r.pruned_at_epoch) * r.aug for r in pruned)
    return {
        "pruning_saved_share": round(unspent / sum(r.budget for r in trained), 4) if trained else 0.0,
        "skipped_budget_share": round(sum(r.budget for r in own if r.skipped) / sum(r.budget for r in own), 4)
        if own else 0.0,
        "pruned_at_last_report": sum(r.pruned_at_epoch >= r.epochs for r in pruned),
    }


def _complete(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.state == "COMPLETE" and r.score is not None]


def best_curve(records: Sequence[TrialRecord]) -> list[tuple[float, float]]:
    """(time, best score so far) at each improvement, in time order."""
    best, out = math.inf, []
    for r in sorted(_complete(records), key=lambda r: r.end_s):
        if r.score < best:
            best = r.score
            out.append((r.end_s, best))
    return out


def time_to_reach(records: Sequence[TrialRecord], target: float) -> float:
    """Seconds until the best score is <= target (inf if never)."""
    return next((t for t, best in best_curve(records) if best <= target), math.inf)


def best_score(records: Sequence[TrialRecord]) -> float:
    return min((r.score for r in _complete(records)), default=math.inf)


def wall_time(records: Sequence[TrialRecord]) -> float:
    return max((r.end_s for r in records), default=0.0)


def ratio(a: float, b: float) -> float:
    return a / b if b else math.inf


def median_or_inf(values: Sequence[float]) -> float:
    """The median, with infinities (never reached) counted as the largest values."""
    return statistics.median(values) if values else math.nan


def finite(x: float) -> float | str:
    """A JSON-safe number: infinity written as "inf" (JSON has no infinity)."""
    return "inf" if math.isinf(x) else round(x, 4)


def noise_fields(summary: Any) -> dict[str, Any]:
    """A noise summary's fields (`nas.search.noise.NoiseSummary`) as JSON-safe values: NaN as null,
    infinity as "inf", numbers rounded (`finite`); None (nothing repeated) as null snr and icc."""
    if summary is None:
        return {"snr": None, "icc": None}
    return {k: json_safe(v) for k, v in dataclasses.asdict(summary).items()}


def json_safe(v: Any) -> Any:
    """`v` with every float inside it JSON-safe: NaN (an undefined figure) as null, infinity as "inf",
    the rest rounded (`finite`); lists, tuples and dicts walked."""
    if isinstance(v, float):
        return None if math.isnan(v) else finite(v)
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    return v


def four_arms(runs: Mapping[str, Sequence[Sequence[TrialRecord]]], reference: str = "random") -> dict[str, dict]:
    """Per arm (runs[arm][seed], seeds aligned across arms): time-to-target ratios against the
    reference arm's own time to its final best, per seed and median, the share of seeds reaching the
    target, and final-best ratios (arm's best / reference's best)."""
    ref = runs[reference]
    out = {}
    for arm, arm_runs in runs.items():
        times, bests = [], []
        for recs, ref_recs in zip(arm_runs, ref, strict=True):
            target = best_score(ref_recs)
            times.append(ratio(time_to_reach(recs, target), time_to_reach(ref_recs, target)))
            bests.append(ratio(best_score(recs), target))
        out[arm] = {
            "time_ratio_median": median_or_inf(times), "time_ratio_per_seed": times,
            "reached_share": sum(not math.isinf(t) for t in times) / len(times),
            "best_ratio_median": median_or_inf(bests), "best_ratio_per_seed": bests,
            "wall_s_median": statistics.median(wall_time(r) for r in arm_runs),
        }
    return out


def pruning_measured(with_runs: Sequence[Sequence[TrialRecord]],
                     without_runs: Sequence[Sequence[TrialRecord]]) -> dict[str, object]:
    """The same sampler and seeds with and without pruning and the skip, both executed: measured
    wall times, the share of time saved, trials stopped, and best-score ratios (with / without);
    beside them the passes over the images each mechanism kept from training (`training_saved`,
    pooled over the seeds, and the pruner's share per seed)."""
    saved, bests, stopped, total = [], [], 0, 0
    for w, wo in zip(with_runs, without_runs, strict=True):
        saved.append(1.0 - ratio(wall_time(w), wall_time(wo)))
        bests.append(ratio(best_score(w), best_score(wo)))
        stopped += sum(r.state == "PRUNED" for r in w)
        total += sum(r.state in ("COMPLETE", "PRUNED") for r in w)
    return {
        "wall_s_with": [wall_time(r) for r in with_runs], "wall_s_without": [wall_time(r) for r in without_runs],
        "saved_share_median": statistics.median(saved), "saved_share_per_seed": saved,
        "stopped_share": stopped / total if total else math.nan,
        "best_ratio_median": statistics.median(bests), "best_ratio_per_seed": bests,
        **training_saved([r for w in with_runs for r in w]),
        "pruning_saved_share_per_seed": [training_saved(w)["pruning_saved_share"] for w in with_runs],
    }


def trivial_goal(means: dict[str, float]) -> dict[str, Any]:
    """The trivial baselines' goal from each role's mean score (roles `pick`, `course_report`, and the
    trivial ones a user gets without a search: `cheapest`, `random1`...): is the pick below every
    trivial one? A pick that is the cheapest architecture ties it and misses."""
    return {"goal": "pick below the cheapest and every random architecture (mean over seeds)",
            **pick_below(means, [r for r in means if r not in ("pick", "course_report")]),
            "pick_over_course_report": round(means["pick"] / means["course_report"], 3)}


def pick_below(means: dict[str, float], rivals: list[str]) -> dict[str, Any]:
    """Whether the pick's mean score is below each of `rivals`' (a tie misses): met, beaten, not beaten."""
    beaten = [r for r in rivals if means["pick"] < means[r]]
    return {"met": len(beaten) == len(rivals), "beaten": beaten, "not_beaten": [r for r in rivals if r not in beaten]}


def evenly_spaced(n: int, k: int) -> list[int]:
    """Indices of k of n sorted items, evenly spaced from the first to the last (all when k >= n)."""
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
