"""The skip audit's arithmetic: replay a recorded study with a skip rule active, in a random order of
trials, over a number of workers, and count what the rule threw away.

One replay: the recorded complete trials (each with its exact cost, its proxy error and its
training seconds) are dealt to `workers` workers in a random order (the baselines first, as the
study enqueues them, or anywhere); each trial's duration is its recorded seconds times a random
factor, so with several workers the completion order differs from the start order too. When a
trial starts, the rule judges it from the trials complete at that moment (baselines are always
trained, as in the study); a skipped trial takes no time. At the end:

- false skip: a skipped trial whose recorded score beats the best score of the trials the replay
  trained (the rule threw away the study's winner);
- saved: the skipped trials, as a count and as a share of the training seconds of all trials;
- at risk (the audit's power): trials that beat the best score complete when they started; only
  these could have been false skips.
"""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nas.model.cost import score_of
from nas.search.skip import Scored, skip_reason

__all__ = ["Recorded", "Replay", "replay", "audit", "from_records", "RULES", "replay_rows", "ORDERS", "WORKERS"]

Rule = Callable[[list[tuple[float, float]], float], bool]  # (complete (cost, px error) pairs, cost) -> skip?


@dataclass(frozen=True)
class Recorded:
    """A complete trial of a recorded study."""

    cost: float
    px_error: float
    seconds: float
    baseline: bool = False

    @property
    def score(self) -> float:
        return score_of(self.cost, self.px_error)


@dataclass(frozen=True)
class Replay:
    judged: int  # trials the rule judged (every one but the baselines)
    skipped: int
    false_skips: int
    at_risk: int  # judged trials that beat the best complete at their start
    saved_seconds: float
    total_seconds: float


def _order(trials: Sequence[Recorded], rng: random.Random, baselines_first: bool) -> list[Recorded]:
    rest = [t for t in trials if not (baselines_first and t.baseline)]
    rng.shuffle(rest)
    return [t for t in trials if baselines_first and t.baseline] + rest


def replay(trials: Sequence[Recorded], rule: Rule, workers: int, rng: random.Random,
           baselines_first: bool = True, jitter: float = 0.5) -> Replay:
    """One replay of `trials` with `rule` active (module docstring)."""
    queue = _order(trials, rng, baselines_first)
    running: list[tuple[float, int, Recorded]] = []  # (end time, tie-break, trial)
    done: list[tuple[float, float]] = []
    skipped, trained, at_risk, now, n = [], [], 0, 0.0, 0
    for trial in queue:
        while len(running) >= workers:
            now, _, t = heapq.heappop(running)
            done.append((t.cost, t.px_error))
        if not trial.baseline:
            best = min((score_of(c, e) for c, e in done), default=math.inf)
            at_risk += trial.score < best
            if rule(list(done), trial.cost):
                skipped.append(trial)
                continue
        n += 1
        trained.append(trial)
        heapq.heappush(running, (now + trial.seconds * math.exp(rng.gauss(0.0, jitter)), n, trial))
    best = min(t.score for t in trained)
    return Replay(judged=sum(not t.baseline for t in queue), skipped=len(skipped),
                  false_skips=sum(t.score < best for t in skipped), at_risk=at_risk,
                  saved_seconds=sum(t.seconds for t in skipped), total_seconds=sum(t.seconds for t in queue))


def audit(trials: Sequence[Recorded], rule: Rule, workers: int, orders: int, seed: int = 0,
          baselines_first: bool = True) -> dict[str, float]:
    """`orders` replays: decisions, skips, false skips (and the replays that had one), trials at
    risk, and the training saved (skipped trials, and their share of the training seconds)."""
    rng = random.Random(seed)
    runs = [replay(trials, rule, workers, rng, baselines_first) for _ in range(orders)]
    total = sum(r.total_seconds for r in runs)
    return {
        "orders": orders, "workers": workers, "baselines_first": baselines_first, "trials": len(trials),
        "decisions": sum(r.judged for r in runs), "at_risk": sum(r.at_risk for r in runs),
        "skipped": sum(r.skipped for r in runs), "false_skips": sum(r.false_skips for r in runs),
        "replays_with_false_skip": sum(r.false_skips > 0 for r in runs),
        "skipped_per_replay": round(sum(r.skipped for r in runs) / orders, 3),
        "saved_seconds_share": round(sum(r.saved_seconds for r in runs) / total, 4) if total else 0.0,
    }


def from_records(records) -> list[Recorded]:
    """The complete trials of a timed run (`benchmarks.TrialRecord`s), their seconds from start to end."""
    return [Recorded(r.cost, r.px_error, r.end_s - r.start_s) for r in records
            if r.state == "COMPLETE" and r.px_error is not None]


ORDERS, WORKERS = 200, (1, 8)  # the audit's random orders per setting, and its worker counts


def rule_sound(margin: float):
    return lambda done, cost: skip_reason([Scored(c, e) for c, e in done], cost, margin) is not None


def rule_first(margin: float):
    """The rule's first form: any complete trial's lowest error as evidence for every candidate."""
    def skips(done, cost):
        if not done:
            return False
        best = min(score_of(c, e) for c, e in done)
        return score_of(cost, max(0.0, min(e for _, e in done) - margin)) >= best
    return skips


RULES = {"sound": rule_sound, "first": rule_first}


def replay_rows(trials: list[Recorded], margin: float, orders: int = ORDERS) -> list[dict]:
    """The audit of one recorded study: each rule x 1 and 8 workers x baselines first or anywhere."""
    errors = [t.px_error for t in trials]
    scope = {"margin_px": margin, "trials": len(trials),
             "px_error_range": [round(min(errors), 2), round(max(errors), 2)] if errors else None}
    return [{**scope, "rule": rule, **audit(trials, RULES[rule](margin), w, orders, seed=0, baselines_first=first_b)}
            for rule in RULES for w in WORKERS for first_b in (True, False)]
