"""The pre-training skip rule: a trial is skipped (pruned, untrained) when
cost x exp(min error seen - margin) >= best score  (the exponent floored at 0).

Cost is exact before training, so a candidate that cannot beat the best score even at the lowest
error any trial reached, minus a margin (`search.pre_train_margin_px`), is not worth its training.
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
