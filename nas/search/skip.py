"""The pre-training skip rule: whether a trial is skipped (pruned, untrained) before it trains.

A candidate of exact cost `c` can beat the best score `B` only by ending below the error
`ln(B / c)`. The rule takes its evidence about the candidate's error from the complete trials that
cost **at least as much** (its peers: as large or larger models, trained with the same proxy):

    skip when it has peers, and cost x exp(max(0, lowest peer error - margin)) >= best score

that is, when no complete model at least as large reached within `margin` px of the error the
candidate would need. A cheaper trial's error is never evidence about a dearer candidate, so:

- a candidate dearer than every complete trial is never skipped (with only the space's cheapest
  baseline complete, nothing dearer is skipped, whatever order the baselines finish in and however
  many workers run);
- a candidate cheaper than the best-scoring trial is never skipped (that trial is one of its peers
  and its own error already clears the bound);
- running and skipped trials are not evidence: only complete ones are.

It is a bet, not a proof: it assumes a model does not end more than `margin` px below every model at
least its size trained with the same recipe. `bench/skip_audit.py` replays recorded studies under
random completion orders and worker counts with this rule active and counts the false skips. Where
the proxy's errors do not follow size that closely the bet loses, so a space turns the skip on or
off (`search.pre_train_skip`; docs/design.md says which spaces have it, and why).
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
    """A complete trial as the rule sees it: its exact cost and its proxy error."""

    cost: float
    px_error: float

    @property
    def score(self) -> float:
        return score_of(self.cost, self.px_error)


def skip_reason(done: Iterable[Scored], cost: float, margin: float) -> str | None:
    """Why a candidate of this cost is skipped given the complete trials `done`, or None (it trains)."""
    done = list(done)
    peers = [d for d in done if d.cost >= cost]
    if not peers:
        return None
    best = min(d.score for d in done)
    floor = min(d.px_error for d in peers)
    bound = score_of(cost, max(0.0, floor - margin))
    if bound < best:
        return None
    return (f"skipped before training: the {len(peers)} complete trial(s) costing at least its {cost:.4g} "
            f"reached {floor:.2f} px at best; cost x exp({floor:.2f} - {margin:g} px margin) = {bound:.4g} "
            f">= best score {best:.4g}")


def evidence(complete: Iterable[FrozenTrial]) -> list[Scored]:
    """The scored ones of a study's complete trials, as the rule sees them."""
    return [Scored(t.user_attrs["cost"], t.user_attrs["px_error"]) for t in complete
            if "score" in t.user_attrs and math.isfinite(t.user_attrs.get("px_error", math.nan))]

