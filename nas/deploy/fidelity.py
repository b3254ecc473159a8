"""Proxy fidelity: retrain some of a study's trials (the top K, N spread evenly over the cost range and
M random others) with the full recipe and measure how well the proxy ranked them (Kendall tau and
Spearman rho), each with a percentile-bootstrap 95% interval over the architectures.

Cost is exact and identical in proxy and full training, and score = cost x exp(error): when the
errors differ little across the architectures, the score's order is the cost's, so tau on the score
equals the tau of a ranking by cost alone by construction. Tau on score is therefore mostly cost and
never the proxy's quality: it is shown only beside the cost-only tau on score (`score_tau_line`).
The proxy's quality is its tau on error against a ranking by cost alone (a dearer model is taken to
have the lower error; larger models often do learn better), `proxy_quality_line`: it ranks errors
usefully only where its tau on error is above that trivial one. Every figure comes with the number
of architectures; with few of them the intervals are wide, which is the point of showing them.
Results are stored on the study (user attribute `fidelity`) so the report shows them; each retrain
has its own resumable folder, so an interrupted fidelity run picks up where it stopped.
"""
from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from scipy import stats

from nas.data.spec import DataSpec
from nas.deploy.pick import ranked_trials, spec_for_trial
from nas.deploy.retrain import RetrainHooks, retrain
from nas.errors import ConfigError, StudyError

__all__ = ["FidelityResult", "select_trials", "bootstrap_interval", "paired_difference_interval", "kendall_tau",
           "spearman_rho", "correlations", "run_fidelity", "proxy_quality_line", "score_tau_line", "ATTR", "CI_LEVEL",
           "COST_ONLY"]

ATTR = "fidelity"
CI_LEVEL = 0.95


@dataclass
class FidelityResult:
    rows: list[dict[str, Any]]
    correlations: dict[str, Any]  # the figures, their `_ci` intervals, n, ci_level, n_boot

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, **self.correlations}


def select_trials(study: optuna.Study, top: int, random_count: int, seed: int = 0, spread: int = 0) -> list[int]:
    """Numbers of the `top` best complete trials by proxy score, then `spread` others evenly spaced over
    the cost range (cheapest and dearest included), then `random_count` others drawn at random."""
    ranked = ranked_trials(study)
    if len(ranked) < 2:
        raise StudyError(f"study '{study.study_name}' needs at least 2 complete trials for a fidelity check, "
                         f"has {len(ranked)}")
    numbers = [int(n) for n in ranked["number"]]
    chosen = numbers[:top]
    chosen += _spread_over_cost(ranked, spread, set(chosen))
    taken = set(chosen)
    rest = [n for n in numbers if n not in taken]  # with spread 0: numbers[top:], the draw of older versions
    chosen += random.Random(seed).sample(rest, min(random_count, len(rest)))
    if len(chosen) < 2:
        raise StudyError("a fidelity check needs at least 2 trials: raise --top, --spread or --random")
    return chosen


def _spread_over_cost(ranked: pd.DataFrame, count: int, taken: set[int]) -> list[int]:
    """`count` trials at evenly spaced positions of the cost order; a taken one gives way to its nearest
    untaken neighbour (the cheaper one on a tie)."""
    by_cost = ranked[ranked["cost"].map(math.isfinite)].sort_values(["cost", "number"], kind="stable")
    order = [int(n) for n in by_cost["number"]]
    taken, out = set(taken), []
    for pos in np.linspace(0, len(order) - 1, count) if order else []:
        pick = _nearest_untaken(order, int(round(pos)), taken)
        if pick is None:
            break
        taken.add(pick)
        out.append(pick)
    return out


def _nearest_untaken(order: list[int], pos: int, taken: set[int]) -> int | None:
    for d in range(len(order)):
        for i in (pos - d, pos + d):
            if 0 <= i < len(order) and order[i] not in taken:
                return order[i]
    return None


def bootstrap_interval(a: Sequence[float], b: Sequence[float], fn: Callable[[Any, Any], float],
                       n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap `level` interval of fn(a, b), resampling the (a, b) pairs with replacement.

    A resample where either side is constant has no correlation and is left out; with fewer than 3
    pairs or no valid resample the interval is (nan, nan).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ConfigError(f"bootstrap_interval needs paired values: {len(x)} vs {len(y)}")
    return _percentiles([fn(x[i], y[i]) for i in _resamples((x, y), n_boot, seed)], level)


def paired_difference_interval(a: Sequence[float], b: Sequence[float], truth: Sequence[float],
                               fn: Callable[[Any, Any], float], n_boot: int = 2000, seed: int = 0,
                               level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap `level` interval of fn(b, truth) - fn(a, truth), resampling the
    architectures (each a's, b's and truth's value together): whether b ranks the truth better than a
    by more than the choice of architectures explains (an interval above 0). Resamples where any of
    the three is constant are left out; (nan, nan) as for `bootstrap_interval`.
    """
    x, y, t = (np.asarray(v, dtype=float) for v in (a, b, truth))
    if not len(x) == len(y) == len(t):
        raise ConfigError(f"paired_difference_interval needs paired values: {len(x)}, {len(y)}, {len(t)}")
    return _percentiles([fn(y[i], t[i]) - fn(x[i], t[i]) for i in _resamples((x, y, t), n_boot, seed)], level)


def _resamples(columns: Sequence[np.ndarray], n_boot: int, seed: int) -> list[np.ndarray]:
    """n_boot index sets drawn with replacement, those where some column is constant left out."""
    n = len(columns[0])
    if n < 3:
        return []
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    return [i for i in idx if all(np.ptp(c[i]) > 0 for c in columns)]


def _percentiles(values: list[float], level: float) -> tuple[float, float]:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def kendall_tau(a, b) -> float:
    """Kendall tau-b of two sequences (NaN when either is constant)."""
    return float(stats.kendalltau(a, b).statistic)


def spearman_rho(a, b) -> float:
    """Spearman rho of two sequences (NaN when either is constant)."""
    return float(stats.spearmanr(a, b).statistic)


_FIGURES = (("kendall_tau_score", kendall_tau, 0), ("spearman_rho_score", spearman_rho, 0),
            ("kendall_tau_error", kendall_tau, 1), ("spearman_rho_error", spearman_rho, 1))
COST_ONLY = (("cost_only_kendall_tau_score", kendall_tau, 2), ("cost_only_kendall_tau_error", kendall_tau, 3))


def correlations(proxy_score, full_score, proxy_px, full_px, n_boot: int = 2000, seed: int = 0,
                 level: float = CI_LEVEL, cost: Sequence[float] | None = None) -> dict[str, Any]:
    """Kendall tau and Spearman rho, proxy vs full, on score and on error (NaN: not computable), each
    with `<name>_ci` = [lo, hi], its bootstrap interval over the architectures (rounded to 3 decimals).
    With `cost` (GFLOPs x MParams per architecture), also `cost_only_kendall_tau_score` / `_error`:
    the taus of a ranking by cost alone, dearer = lower error (COST_ONLY)."""
    pairs = ((proxy_score, full_score), (proxy_px, full_px))
    if cost is not None:
        pairs += ((list(cost), full_score), ([-c for c in cost], full_px))
    out: dict[str, Any] = {"n": len(proxy_score)}
    for name, fn, which in _FIGURES + (COST_ONLY if cost is not None else ()):
        a, b = pairs[which]
        out[name] = _figure(fn, a, b)
        lo, hi = bootstrap_interval(a, b, fn, n_boot=n_boot, seed=seed, level=level)
        out[f"{name}_ci"] = [round(lo, 3), round(hi, 3)]
    out.update({"ci_level": level, "n_boot": n_boot})
    return out


def _value(c: Mapping[str, Any], name: str) -> float | None:
    v = c.get(name)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def proxy_quality_line(c: Mapping[str, Any]) -> str:
    """The proxy's quality in one plain line, from `correlations`' figures: its Kendall tau on error
    against the ranking by cost alone's."""
    error, cost_only = _value(c, "kendall_tau_error"), _value(c, "cost_only_kendall_tau_error")
    if error is None:
        return "proxy quality: n/a (the retrained or the proxy errors do not vary)"
    if cost_only is None:
        return (f"proxy quality: Kendall tau on error {error:.3f}, with no ranking by cost alone to compare it with "
                "(stored before it was measured)")
    verdict = "above" if error > cost_only else "not above"
    return (f"proxy quality: Kendall tau on error {error:.3f} against {cost_only:.3f} for a ranking by cost alone: "
            f"{verdict} it, so the proxy orders errors {'better than' if error > cost_only else 'no better than'} "
            "model size alone does")


def score_tau_line(c: Mapping[str, Any]) -> str:
    """The Kendall tau on score beside the cost-only ranking's, labelled as what it mostly is: cost."""
    score, cost_only = _value(c, "kendall_tau_score"), _value(c, "cost_only_kendall_tau_score")
    beside = "n/a (not stored)" if cost_only is None else f"{cost_only:.3f}"
    return (f"tau on score {'n/a' if score is None else f'{score:.3f}'} beside {beside} for a ranking by cost alone: "
            "mostly cost (score = cost x exp(error), the cost exact in proxy and retrain), not proxy quality")


def _figure(fn, a: Sequence[float], b: Sequence[float]) -> float:
    constant = len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2
    return math.nan if constant else fn(a, b)


def run_fidelity(
    study: optuna.Study,
    numbers: list[int],
    data: DataSpec,
    out_root: str | Path,
    recipe_overrides: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    hooks: RetrainHooks | None = None,
    on_trial: Callable[[int, int, int], None] | None = None,
    n_boot: int = 2000,
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
                        [r["proxy_px_error"] for r in rows], [r["full_px_error"] for r in rows], n_boot=n_boot,
                        cost=[r["gflops"] * r["mparams"] for r in rows])
    corr.update({
        "recipe": {**(recipe_overrides or {})}, "data": asdict(data),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    })
    result = FidelityResult(rows, corr)
    study.set_user_attr(ATTR, result.to_dict())
    return result
