"""The pre-training skip rule: a trial is skipped (pruned, untrained) when
cost x exp(max(0, min error seen - margin)) >= best score.

Cost is exact before training, so the rule skips a candidate that could beat the best score only by
ending more than `search.pre_train_margin_px` below the lowest error any complete trial reached. It
is a bet, not a proof: it assumes no new trial improves on the lowest error seen by more than the
margin. `bench/suite.py` audits it by training anyway every trial the rule would have skipped and
counting those that would have won (docs/results.md, "Evidence suite": 0 of 90 decisions at margins
0-6 px at the small size, where every proxy ended within 0.16 px of chance, so the audit had
little to catch; the margins in the space files are well above the spread of proxy errors
measured there).
"""
from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from nas.model.cost import Cost

__all__ = ["skip_reason"]


def skip_reason(study: optuna.Study, cost: Cost, margin: float) -> str | None:
    """Why a trial of this cost is skipped, or None when it may still win (or nothing is scored yet)."""
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
