"""Pareto fronts and iso-score lines: which trials no other beats, and where a score level runs.

score = cost x exp(px error), so a constant score is the curve error = ln(S / cost) in the
(cost, px error) plane, and the front in that plane is the set of trials worth ranking.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["iso_score_levels", "iso_score_lines", "non_dominated", "pareto_mask", "pareto_mask_3d"]


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of rows not dominated (all <=, one <) by another row; exact duplicates both survive.

    O(n^2) comparisons in row chunks so memory stays bounded (~4M cells) for large studies.
    """
    n, k = points.shape
    out = np.ones(n, dtype=bool)
    step = max(1, (1 << 22) // max(1, n * k))
    for start in range(0, n, step):
        p = points[start : start + step, None, :]  # (c, 1, k)
        le = (points[None, :, :] <= p).all(axis=-1)  # (c, n): other <= this in every objective
        lt = (points[None, :, :] < p).any(axis=-1)  # (c, n): and strictly better in one
        out[start : start + step] = ~(le & lt).any(axis=1)
    return out


def _front_mask(df: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    values = df[list(cols)].to_numpy(dtype=float, na_value=np.nan)
    ok = (df["state"] == "COMPLETE").to_numpy() & np.isfinite(values).all(axis=1)
    if "repeat" in df:  # a baseline's repeat is no candidate of its own
        ok &= (df["repeat"] == 0).to_numpy()
    mask = np.zeros(len(df), dtype=bool)
    mask[ok] = non_dominated(values[ok])
    return pd.Series(mask, index=df.index, name="pareto")


def pareto_mask(df: pd.DataFrame) -> pd.Series:
    """True on COMPLETE trials non-dominated in (cost, px_error): the score's two factors, both minimised."""
    return _front_mask(df, ("cost", "px_error"))


def pareto_mask_3d(df: pd.DataFrame) -> pd.Series:
    """True on COMPLETE trials non-dominated in (gflops, mparams, px_error): the "pareto" objective's front."""
    return _front_mask(df, ("gflops", "mparams", "px_error"))


def iso_score_lines(scores: Iterable[float], cost_range: tuple[float, float], n: int = 64) -> list[dict[str, Any]]:
    """Curves of constant score S in the (cost, px error) plane: error = ln(S / cost).

    Points lie on a log-spaced cost grid over `cost_range` (plus cost = S, where the error reaches 0);
    negative errors are dropped. Returns [{"score": S, "cost": [...], "px_error": [...]}, ...].
    """
    lo, hi = (float(c) for c in cost_range)
    if not (0 < lo < hi):
        raise ValueError(f"cost_range must satisfy 0 < low < high, got {cost_range}")
    lines = []
    for s in scores:
        s = float(s)
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"score levels must be positive and finite, got {s}")
        cost = np.geomspace(lo, hi, n)
        if lo <= s <= hi:
            cost = np.unique(np.append(cost, s))
        err = np.log(s / cost)
        keep = err >= 0
        lines.append({"score": s, "cost": cost[keep].tolist(), "px_error": err[keep].tolist()})
    return lines


def iso_score_levels(best: float, baselines: Iterable[float] = ()) -> list[float]:
    """Score levels worth drawing: the best and each baseline, plus best/2 and 2*best for scale.

    A helper level within 5 % of a kept one is dropped so labels do not pile up.
    """
    levels: list[float] = []
    for s in [best, *baselines, best / 2, best * 2]:
        if s > 0 and math.isfinite(s) and all(abs(math.log(s / kept)) > math.log(1.05) for kept in levels):
            levels.append(float(s))
    return sorted(levels)
