"""The skip audit's arithmetic: replay a recorded study with a skip rule active, in a random order of
trials, over a number of workers, and count what the rule threw away.

One replay: the recorded complete trials (each with its exact cost, its proxy error and its
training seconds) are dealt to `workers` workers in a random order (the baselines first, as the
study enqueues them, anywhere, or left out); each trial's duration is its recorded seconds times a random
factor, so with several workers the completion order differs from the start order too. When a
trial starts, the rule judges it from the trials complete at that moment (baselines are always
trained, as in the study); a skipped trial takes no time. At the end:

- false skip: a skipped trial whose recorded score beats the best score of the trials the replay
  trained (the rule threw away the study's winner);
- saved: the skipped trials, as a count and as a share of the training seconds of all trials;
- decisive (the audit's power): judged trials that beat every other trial the replay trained. Only
  these decisions could have been false skips: a skipped one is a false skip, a trained one is the
  replay's winner. Baselines are always trained, so where a baseline is the study's best no decision
  is decisive and the replay cannot fail; the replays without the baselines (`baselines: none`, a
  study that enqueued none) test the rule among the candidates alone;
- at risk: judged trials that beat the best score complete when they started (a looser count: such
  a trial may still lose to one complete later).
"""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nas.model.cost import score_of
from nas.search.skip import Scored, skip_reason

__all__ = ["Recorded", "Replay", "replay", "audit", "from_records", "RULES", "replay_rows", "ORDERS", "WORKERS",
           "BASELINES", "margin_rows", "MARGINS"]

Rule = Callable[[list[Scored], Scored], bool]  # (complete trials, the candidate) -> skip it?


@dataclass(frozen=True)
class Recorded:
    """A complete trial of a recorded study."""

    cost: float
    px_error: float
    seconds: float
    baseline: bool = False
    aug: int = 1  # its augmentation multiplier: passes over the proxy's images

    @property
    def score(self) -> float:
        return score_of(self.cost, self.px_error)

    @property
    def scored(self) -> Scored:
        return Scored(self.cost, self.px_error, self.aug)


@dataclass(frozen=True)
class Replay:
    judged: int  # trials the rule judged (every one but the baselines)
    skipped: int
    false_skips: int
    at_risk: int  # judged trials that beat the best complete at their start
    decisive: int  # judged trials that beat every other trained trial (module docstring)
    saved_seconds: float
    total_seconds: float


BASELINES = ("first", "anywhere", "none")  # where a replay puts the baselines: as the study enqueues them, anywhere
# in the random order, or nowhere (a study without them)


def _order(trials: Sequence[Recorded], rng: random.Random, baselines: str) -> list[Recorded]:
    if baselines not in BASELINES:
        raise ValueError(f"baselines: {baselines!r} is not one of {', '.join(BASELINES)}")
    first = [t for t in trials if t.baseline] if baselines == "first" else []
    rest = [t for t in trials if not (t.baseline and baselines != "anywhere")]
    rng.shuffle(rest)
    return first + rest


def replay(trials: Sequence[Recorded], rule: Rule, workers: int, rng: random.Random,
           baselines: str = "first", jitter: float = 0.5) -> Replay:
    """One replay of `trials` with `rule` active (module docstring)."""
    queue = _order(trials, rng, baselines)
    running: list[tuple[float, int, Recorded]] = []  # (end time, tie-break, trial)
    done: list[Scored] = []
    skipped, trained, at_risk, now, n = [], [], 0, 0.0, 0
    for trial in queue:
        while len(running) >= workers:
            now, _, t = heapq.heappop(running)
            done.append(t.scored)
        if not trial.baseline:
            best = min((d.score for d in done), default=math.inf)
            at_risk += trial.score < best
            if rule(list(done), trial.scored):
                skipped.append(trial)
                continue
        n += 1
        trained.append(trial)
        heapq.heappush(running, (now + trial.seconds * math.exp(rng.gauss(0.0, jitter)), n, trial))
    best = min((t.score for t in trained), default=math.inf)
    false_skips = sum(t.score < best for t in skipped)
    return Replay(judged=sum(not t.baseline for t in queue), skipped=len(skipped), false_skips=false_skips,
                  at_risk=at_risk, decisive=false_skips + _judged_winner(trained),
                  saved_seconds=sum(t.seconds for t in skipped), total_seconds=sum(t.seconds for t in queue))


def _judged_winner(trained: Sequence[Recorded]) -> int:
    """1 when a judged (non-baseline) trial beats every other trained trial, else 0."""
    ranked = sorted(trained, key=lambda t: t.score)
    return int(bool(ranked) and not ranked[0].baseline and (len(ranked) == 1 or ranked[0].score < ranked[1].score))


def audit(trials: Sequence[Recorded], rule: Rule, workers: int, orders: int, seed: int = 0,
          baselines: str = "first") -> dict[str, float]:
    """`orders` replays: decisions, skips, false skips (and the replays that had one), the decisions
    that could have failed (decisive) and trials at risk, and the training saved (skipped trials, and
    their share of the training seconds)."""
    rng = random.Random(seed)
    runs = [replay(trials, rule, workers, rng, baselines) for _ in range(orders)]
    total = sum(r.total_seconds for r in runs)
    return {
        "orders": orders, "workers": workers, "baselines": baselines,
        "trials": sum(not (t.baseline and baselines == "none") for t in trials),
        "decisions": sum(r.judged for r in runs), "decisive": sum(r.decisive for r in runs),
        "at_risk": sum(r.at_risk for r in runs),
        "skipped": sum(r.skipped for r in runs), "false_skips": sum(r.false_skips for r in runs),
        "replays_with_false_skip": sum(r.false_skips > 0 for r in runs),
        "skipped_per_replay": round(sum(r.skipped for r in runs) / orders, 3),
        "saved_seconds_share": round(sum(r.saved_seconds for r in runs) / total, 4) if total else 0.0,
    }


def from_records(records) -> list[Recorded]:
    """The complete trials of a timed run (`benchmarks.TrialRecord`s), their seconds from start to end."""
    return [Recorded(r.cost, r.px_error, r.end_s - r.start_s, aug=r.aug) for r in records
            if r.state == "COMPLETE" and r.px_error is not None]


ORDERS, WORKERS = 200, (1, 8)  # the audit's random orders per setting, and its worker counts


def rule_sound(margin: float, min_peers: int):
    """The rule studies run (nas.search.skip)."""
    return lambda done, cand: skip_reason(done, cand.cost, margin, aug=cand.aug, min_peers=min_peers) is not None


def rule_cost_peers(margin: float, min_peers: int):
    """Its second form: every complete trial at least as dear a peer, however long it trained, one enough."""
    return lambda done, cand: skip_reason([Scored(d.cost, d.px_error) for d in done], cand.cost, margin, aug=1,
                                          min_peers=1) is not None


def rule_first(margin: float, min_peers: int):
    """Its first form: any complete trial's lowest error as evidence for every candidate."""
    def skips(done, cand):
        if not done:
            return False
        best = min(d.score for d in done)
        return score_of(cand.cost, max(0.0, min(d.px_error for d in done) - margin)) >= best
    return skips


RULES = {"sound": rule_sound, "cost_peers": rule_cost_peers, "first": rule_first}  # made by (margin, min peers)


def replay_rows(trials: list[Recorded], margin: float, min_peers: int, orders: int = ORDERS) -> list[dict]:
    """The audit of one recorded study: each rule x 1 and 8 workers x the baselines first, anywhere or
    left out (a study without baselines: only the last)."""
    errors = [t.px_error for t in trials]
    scope = {"margin_px": margin, "min_peers": min_peers,
             "px_error_range": [round(min(errors), 2), round(max(errors), 2)] if errors else None}
    settings = BASELINES if any(t.baseline for t in trials) else ("none",)
    return [{**scope, "rule": rule, **audit(trials, RULES[rule](margin, min_peers), w, orders, seed=0, baselines=b)}
            for rule in RULES for w in WORKERS for b in settings]


MARGINS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0)  # the margin sweep's margins, deployed px


def margin_rows(trials: list[Recorded], min_peers: int, orders: int = ORDERS,
                margins: Sequence[float] = MARGINS) -> list[dict]:
    """The sound rule at each margin, over 1 and 8 workers, without the baselines (where a baseline is
    the best, the replays with them cannot fail): what margin this study's errors needed for no false
    skip, and what the skip saves at it."""
    return [{"rule": "sound", "margin_px": m, "min_peers": min_peers,
             **audit(trials, rule_sound(m, min_peers), w, orders, seed=0, baselines="none")}
            for m in margins for w in WORKERS]
