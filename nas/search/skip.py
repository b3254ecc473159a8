"""The pre-training skip rule: whether a trial is skipped (pruned, untrained) before it trains.

A candidate of exact cost `c` can beat the best score `B` only by ending below the error
`ln(B / c)`. The rule takes its evidence about the candidate's error from its **peers**: the
complete trials that cost at least as much **and** trained at least as many passes over the proxy's
images (augmentation multiplier at least the candidate's): as large or larger models, trained at
least as long with the same proxy.

    skip when it has at least `min_peers` peers, and
         cost x exp(max(0, lowest peer error - margin)) >= best score

that is, when several complete models at least as large and trained at least as long all ended
more than `margin` px above the error the candidate would need. What a trial says nothing about is
never evidence: a cheaper trial's error says nothing about a dearer candidate, a trial trained
fewer passes nothing about one trained more, and one or two models are not enough. So:

- a candidate dearer than every complete trial, or trained longer than every complete trial at
  least its cost, is never skipped (with only the space's cheapest baseline complete, nothing
  dearer is skipped, whatever order the baselines finish in and however many workers run);
- a candidate with fewer than `min_peers` peers is never skipped;
- a candidate cheaper than the best-scoring trial, and trained no longer, is never skipped (that
  trial is one of its peers and its own error already clears the bound);
- running and skipped trials are not evidence: only complete ones are.

It is a bet, not a proof: it assumes a model does not end more than `margin` px below every one of
several models at least its size trained at least as long with the same recipe.
`bench/skip_audit.py` replays recorded studies under random completion orders and worker counts
with this rule active and counts the false skips. Where the proxy's errors do not follow size that
closely the bet loses, so a space turns the skip on or off (`search.pre_train_skip`; docs/design.md
says which spaces have it, and why).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial

from nas.model.cost import score_of

__all__ = ["Scored", "evidence", "skip_reason"]


@dataclass(frozen=True)
class Scored:
    """A complete trial as the rule sees it: its exact cost, its proxy error and the passes over the
    proxy's images it trained (its augmentation multiplier)."""

    cost: float
    px_error: float
    aug: int = 1

    @property
    def score(self) -> float:
        return score_of(self.cost, self.px_error)


def skip_reason(done: Iterable[Scored], cost: float, margin: float, *, aug: int, min_peers: int) -> str | None:
    """Why a candidate of this cost and multiplier is skipped given the complete trials `done`, or
    None (it trains). `margin` and `min_peers` are a space's `search.pre_train_*` settings."""
    done = list(done)
    peers = [d for d in done if d.cost >= cost and d.aug >= aug]
    if len(peers) < min_peers:
        return None
    best = min(d.score for d in done)
    floor = min(d.px_error for d in peers)
    bound = score_of(cost, max(0.0, floor - margin))
    if bound < best:
        return None
    return (f"skipped before training: the {len(peers)} complete trials costing at least its {cost:.4g} and "
            f"trained at least its {aug} pass(es) reached {floor:.2f} px at best; cost x exp({floor:.2f} - "
            f"{margin:g} px margin) = {bound:.4g} >= best score {best:.4g}")


def evidence(complete: Iterable[FrozenTrial]) -> list[Scored]:
    """The scored ones of a study's complete trials, as the rule sees them (a trial without a
    multiplier counts as one pass: evidence for the fewest candidates)."""
    return [Scored(t.user_attrs["cost"], t.user_attrs["px_error"], int(t.params.get("aug_multiplier", 1)))
            for t in complete if "score" in t.user_attrs and math.isfinite(t.user_attrs.get("px_error", math.nan))]
