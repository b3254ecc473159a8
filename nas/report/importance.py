"""Parameter importances for the ranking score, or the reason there are none worth showing."""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.report.frame import to_float

__all__ = ["param_importances"]


class _ImportanceInfo(NamedTuple):
    importances: dict[str, float] | None
    reason: str  # why there are none; "" when there are


def _score_target(t: FrozenTrial) -> float:
    """Importance target: the stored ranking score (NaN filters a trial out), never the trial values."""
    return to_float(t.user_attrs.get("score"))


def _memory_copy(trials: Sequence[FrozenTrial], directions: Sequence[Any]) -> optuna.Study:
    """An in-memory study of just these trials: no second storage read, no unscored trials."""
    storage = optuna.storages.InMemoryStorage()
    storage.create_new_study(directions=list(directions), study_name="report-importances")
    study = optuna.load_study(study_name="report-importances", storage=storage)
    study.add_trials(trials)
    return study


def _why_not(scored: Sequence[FrozenTrial], min_trials: int) -> str:
    """Why importances would mean nothing for these trials; "" when they are worth computing."""
    if len(scored) < min_trials:
        return f"only {len(scored)} complete trial(s) with a score; importances need {min_trials}."
    seen: dict[str, set[Any]] = {}
    for t in scored:
        for name, value in t.params.items():
            seen.setdefault(name, set()).add(value)
    if not any(len(values) > 1 for values in seen.values()):
        return "the search parameters never varied across the complete trials."
    return ""


def _get_importance_info(
    trials: Sequence[FrozenTrial], directions: Sequence[Any], min_trials: int = 5
) -> _ImportanceInfo:
    scored = [t for t in trials if t.state == TrialState.COMPLETE and math.isfinite(_score_target(t))]
    reason = _why_not(scored, min_trials)
    if reason:
        return _ImportanceInfo(None, reason)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = optuna.importance.get_param_importances(_memory_copy(scored, directions), target=_score_target)
    except (optuna.exceptions.OptunaError, ValueError, RuntimeError, ArithmeticError) as exc:
        return _ImportanceInfo(None, f"optuna could not compute importances ({exc}).")
    if any("will be equal" in str(w.message) for w in caught):
        return _ImportanceInfo(None, "too few distinct results for optuna to tell the parameters apart.")
    return _ImportanceInfo({name: float(v) for name, v in raw.items()}, "")


def param_importances(study: optuna.Study, min_trials: int = 5) -> dict[str, float] | None:
    """Parameter importances for the score (optuna's default evaluator), or None when not meaningful:
    fewer than `min_trials` scored complete trials, parameters that never varied, or an optuna error.
    """
    return _get_importance_info(study.get_trials(deepcopy=False), study.directions, min_trials).importances
