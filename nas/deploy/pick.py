"""Choosing one architecture from a study: by trial number, by rank, or the best under constraints.

Reads only the storage (trial user attributes), so it works on any worker's results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from nas.deploy.spec import ArchSpec, full_recipe
from nas.errors import StudyError
from nas.model.arch import ArchConfig
from nas.report import trials_frame
from nas.training.recipe import TrainConfig

__all__ = ["Constraints", "ranked_trials", "pick", "spec_for_trial"]


@dataclass(frozen=True)
class Constraints:
    max_gflops: float | None = None
    max_mparams: float | None = None
    max_error: float | None = None

    def active(self) -> bool:
        return any(v is not None for v in (self.max_gflops, self.max_mparams, self.max_error))

    def describe(self) -> str:
        parts = [f"{name} <= {v:g}" for name, v in
                 (("GFLOPs", self.max_gflops), ("MParams", self.max_mparams), ("px error", self.max_error))
                 if v is not None]
        return ", ".join(parts) or "none"


def ranked_trials(study: optuna.Study) -> pd.DataFrame:
    """Complete trials with a finite score and an architecture, best score first (column `rank`, 1-based).
    A baseline's repeat (`study --repeats`) duplicates its architecture: it is not ranked."""
    df = trials_frame(study)
    ok = (df["state"] == "COMPLETE") & df["score"].map(math.isfinite) & (df["backbone"] != "") & (df["repeat"] == 0)
    ranked = df[ok].sort_values(["score", "number"], kind="stable").reset_index(drop=True)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    return ranked


def pick(study: optuna.Study, trial: int | None = None, rank: int | None = None,
         constraints: Constraints | None = None) -> pd.Series:
    """The chosen trial's row of `ranked_trials` (default: rank 1). Raises StudyError when nothing fits."""
    constraints = constraints or Constraints()
    if sum(x is not None for x in (trial, rank)) + constraints.active() > 1:
        raise StudyError("choose one of --trial, --rank or constraints (--max-gflops/--max-mparams/--max-error)")
    ranked = ranked_trials(study)
    name = study.study_name
    if ranked.empty:
        raise StudyError(f"study '{name}' has no complete trial to pick from")
    if trial is not None:
        rows = ranked[ranked["number"] == trial]
        if rows.empty:
            raise StudyError(_not_ranked(study, trial))
        return rows.iloc[0]
    if rank is not None:
        if not 1 <= rank <= len(ranked):
            raise StudyError(f"--rank {rank}: study '{name}' has {len(ranked)} complete trial(s)")
        return ranked.iloc[rank - 1]
    fits = ranked
    for col, limit in (("gflops", constraints.max_gflops), ("mparams", constraints.max_mparams),
                       ("px_error", constraints.max_error)):
        if limit is not None:
            fits = fits[fits[col] <= limit]
    if fits.empty:
        raise StudyError(f"no complete trial of study '{name}' meets {constraints.describe()} "
                         f"(smallest GFLOPs {ranked['gflops'].min():.4g}, MParams {ranked['mparams'].min():.4g}, "
                         f"px error {ranked['px_error'].min():.3g})")
    return fits.iloc[0]


def _not_ranked(study: optuna.Study, number: int) -> str:
    """Why trial `number` is not among the ranked trials."""
    name = study.study_name
    states = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in states:
        return f"study '{name}' has no trial {number} (trials 0-{len(states) - 1})"
    t = states[number]
    if t.user_attrs.get("repeat"):
        return (f"trial {number} of study '{name}' repeats baseline {t.user_attrs.get('baseline')} with another "
                "seed (a proxy-noise measurement, not a candidate): pick that baseline's own trial")
    why = t.user_attrs.get("reason")
    return (f"trial {number} of study '{name}' is {t.state.name.lower()}, not complete"
            + (f" ({why})" if why else "") + ": it has no score to pick")


def _trial_recipe(t: optuna.trial.FrozenTrial) -> TrainConfig:
    """The full recipe with the trial's augmentation multiplier and its loss/rotation/sigma/seed."""
    proxy = t.user_attrs.get("recipe") or {}
    keep = {k: proxy[k] for k in ("aug_multiplier", "rotation", "flip", "loss", "sigma", "seed") if k in proxy}
    return full_recipe(**keep)


def spec_for_trial(study: optuna.Study, number: int, storage: str | None = None) -> ArchSpec:
    """The architecture file contents for one complete trial."""
    t = study.get_trials(deepcopy=False)[number]
    ua = t.user_attrs
    arch = ArchConfig.from_dict(ua["arch"], f"trial {number} of study '{study.study_name}'")
    source: dict[str, Any] = {"study": study.study_name, "trial": number}
    if storage:
        source["storage"] = storage
    for k in ("baseline", "score", "px_error", "px_error_is_estimate", "gflops", "mparams", "true_gmacs"):
        if ua.get(k) is not None:
            source[{"score": "proxy_score", "px_error": "proxy_px_error"}.get(k, k)] = ua[k]
    return ArchSpec(arch, _trial_recipe(t), source)
