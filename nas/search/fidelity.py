"""Proxy fidelity: retrain the study's top-K trials (plus M random others) with the full recipe and
measure how well the proxy ranked them (Kendall tau and Spearman rho).

Cost is exact and identical in proxy and full training, so tau on the score is inflated by the
cost term whenever costs differ a lot; tau on the error alone is what the proxy actually
estimates. Both are reported, with the number of architectures. Results are stored on the study
(user attribute `fidelity`) so the report shows them; each retrain has its own resumable folder,
so an interrupted fidelity run picks up where it stopped.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna
from scipy import stats

from nas.data.spec import DataSpec
from nas.deploy.retrain import RetrainHooks, retrain
from nas.errors import StudyError
from nas.search.pick import ranked_trials, spec_for_trial

__all__ = ["FidelityResult", "select_trials", "correlations", "run_fidelity", "ATTR"]

ATTR = "fidelity"


@dataclass
class FidelityResult:
    rows: list[dict[str, Any]]
    correlations: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, **self.correlations}


def select_trials(study: optuna.Study, top: int, random_count: int, seed: int = 0) -> list[int]:
    """Numbers of the `top` best complete trials by proxy score plus `random_count` others drawn at random."""
    ranked = ranked_trials(study)
    if len(ranked) < 2:
        raise StudyError(f"study '{study.study_name}' needs at least 2 complete trials for a fidelity check, "
                         f"has {len(ranked)}")
    numbers = [int(n) for n in ranked["number"]]
    chosen = numbers[:top]
    rest = numbers[top:]
    chosen += random.Random(seed).sample(rest, min(random_count, len(rest)))
    if len(chosen) < 2:
        raise StudyError("a fidelity check needs at least 2 trials: raise --top or --random")
    return chosen


def correlations(proxy_score, full_score, proxy_px, full_px) -> dict[str, float]:
    def corr(fn, a, b) -> float:
        if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
            return math.nan
        return float(fn(a, b).statistic)

    return {
        "n": len(proxy_score),
        "kendall_tau_score": corr(stats.kendalltau, proxy_score, full_score),
        "spearman_rho_score": corr(stats.spearmanr, proxy_score, full_score),
        "kendall_tau_error": corr(stats.kendalltau, proxy_px, full_px),
        "spearman_rho_error": corr(stats.spearmanr, proxy_px, full_px),
    }


def run_fidelity(
    study: optuna.Study,
    numbers: list[int],
    data: DataSpec,
    out_root: str | Path,
    recipe_overrides: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    hooks: RetrainHooks | None = None,
    on_trial: Callable[[int, int, int], None] | None = None,
) -> FidelityResult:
    """Retrain each trial in `numbers` (folder out_root/trial_<n>), correlate, store on the study.

    `on_trial(i, count, number)` is called before each retrain.
    """
    rows = []
    for i, number in enumerate(numbers):
        if on_trial is not None:
            on_trial(i, len(numbers), number)
        spec = spec_for_trial(study, number)
        if recipe_overrides:
            spec = replace(spec, recipe=replace(spec.recipe, **recipe_overrides))
        result = retrain(spec, data, Path(out_root) / f"trial_{number}", cache_dir=cache_dir, hooks=hooks)
        m, ua = result.metrics, study.get_trials(deepcopy=False)[number].user_attrs
        rows.append({
            "number": number, "baseline": ua.get("baseline") or "", "arch": spec.arch.short(),
            "gflops": m["gflops"], "mparams": m["mparams"],
            "proxy_score": ua["score"], "proxy_px_error": ua["px_error"],
            "full_score": m["score"], "full_px_error": m["test_px_error"],
        })
    corr = correlations([r["proxy_score"] for r in rows], [r["full_score"] for r in rows],
                        [r["proxy_px_error"] for r in rows], [r["full_px_error"] for r in rows])
    corr.update({
        "recipe": {**(recipe_overrides or {})}, "data": asdict(data),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })
    result = FidelityResult(rows, corr)
    study.set_user_attr(ATTR, result.to_dict())
    return result
