"""Study report: one offline HTML page (Pareto front, history, parameters, importances, all trials)
plus a CSV of the same trials table.

Only trial *user attributes* are read, never trial values, so a "score" study and a three-objective
"pareto" study report the same way, and any worker's trials show up. Each figure follows optuna's
split: `_get_*_info()` computes plain data (what the tests check) and `_get_*_plot(info)` draws it.
"""
from __future__ import annotations

import html
import json
import math
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from nas.errors import NasError, StudyError
from nas.io import write_text_atomic

__all__ = [
    "COLUMNS",
    "best_so_far",
    "iso_score_lines",
    "leaderboard",
    "LEADERBOARD_COLUMNS",
    "plain",
    "param_importances",
    "pareto_mask",
    "pareto_mask_3d",
    "summary",
    "trials_frame",
    "write_report",
]

COLUMNS = (
    "number", "state", "baseline",
    "backbone", "backbone_width", "head_depth", "head_width", "aug_multiplier", "input_size",
    "gflops", "mparams", "true_gmacs", "cost", "px_error", "pck", "auc", "score",
    "train_seconds", "images_per_s",
    "skipped", "reason", "retried_from", "datetime_start", "duration_s",
)
_FLOAT_ATTRS = (
    "gflops", "mparams", "true_gmacs", "cost", "px_error", "pck", "auc", "score", "train_seconds", "images_per_s",
)
_INT_COLUMNS = ("head_depth", "aug_multiplier", "input_size", "retried_from")
_SEARCH_PARAMS = ("backbone", "backbone_width", "head_depth", "head_width", "aug_multiplier")
_BEST_FIELDS = (
    "number", "baseline", "backbone", "backbone_width", "head_depth", "head_width", "input_size",
    "aug_multiplier", "gflops", "mparams", "px_error", "score",
)
LEADERBOARD_COLUMNS = (
    "rank", "trial", "baseline", "backbone", "backbone_width", "head_width", "head_depth", "aug_multiplier",
    "gflops", "mparams", "px_error", "score",
)
_FIG_HEIGHT = 560
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


# --- the trials frame ------------------------------------------------------------------------
def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (every state) built from user attributes; missing values are NaN/NA/""."""
    return _frame(study.get_trials(deepcopy=False))


def _num(value: Any) -> float:
    """A float, or NaN for anything absent or not numeric (a half-written trial must not break the report)."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _row(t: FrozenTrial) -> dict[str, Any]:
    ua = t.user_attrs
    arch = ua.get("arch") if isinstance(ua.get("arch"), dict) else {}
    recipe = ua.get("recipe") if isinstance(ua.get("recipe"), dict) else {}
    row: dict[str, Any] = {
        "number": t.number,
        "state": t.state.name,
        "baseline": str(ua.get("baseline") or ""),
        # arch/recipe first: baselines and retries may carry them without sampled params
        "backbone": str(arch.get("backbone", t.params.get("backbone", "")) or ""),
        "backbone_width": _num(arch.get("backbone_width", t.params.get("backbone_width"))),
        "head_depth": _num(arch.get("head_depth", t.params.get("head_depth"))),
        "head_width": _num(arch.get("head_width", t.params.get("head_width"))),
        "aug_multiplier": _num(recipe.get("aug_multiplier", t.params.get("aug_multiplier"))),
        "input_size": _num(arch.get("input_size")),
    }
    row.update({k: _num(ua.get(k)) for k in _FLOAT_ATTRS})
    if math.isnan(row["cost"]):
        row["cost"] = row["gflops"] * row["mparams"]  # stays NaN when either is missing
    retried = ua.get("retried_from", t.system_attrs.get("failed_trial"))
    row.update(
        skipped=bool(ua.get("skipped", False)),
        reason=str(ua.get("reason") or ""),
        retried_from=_num(retried),
        datetime_start=t.datetime_start,
        duration_s=t.duration.total_seconds() if t.duration is not None else math.nan,
    )
    return row


def _frame(trials: Iterable[FrozenTrial]) -> pd.DataFrame:
    df = pd.DataFrame([_row(t) for t in trials], columns=list(COLUMNS))
    for col in _INT_COLUMNS:  # nullable ints: the CSV shows "2", not "2.0", and blanks for missing
        df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in _FLOAT_ATTRS + ("backbone_width", "head_width", "duration_s"):
        df[col] = df[col].astype(float)
    df["number"] = df["number"].astype(int)
    df["skipped"] = df["skipped"].astype(bool)
    df["datetime_start"] = pd.to_datetime(df["datetime_start"])
    return df.sort_values("number", kind="stable").reset_index(drop=True)


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    """COMPLETE trials with a finite score, in trial-number order: the only ones that can be ranked."""
    ok = (df["state"] == "COMPLETE") & np.isfinite(df["score"].to_numpy(dtype=float))
    return df[ok].sort_values("number", kind="stable")


# --- plain data --------------------------------------------------------------------------------
def _non_dominated(points: np.ndarray) -> np.ndarray:
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
    mask = np.zeros(len(df), dtype=bool)
    mask[ok] = _non_dominated(values[ok])
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


def _iso_score_levels(best: float, baselines: Iterable[float] = ()) -> list[float]:
    """Score levels worth drawing: the best and each baseline, plus best/2 and 2*best for scale.

    A helper level within 5 % of a kept one is dropped so labels do not pile up.
    """
    levels: list[float] = []
    for s in [best, *baselines, best / 2, best * 2]:
        if s > 0 and math.isfinite(s) and all(abs(math.log(s / kept)) > math.log(1.05) for kept in levels):
            levels.append(float(s))
    return sorted(levels)


def best_so_far(df: pd.DataFrame) -> pd.DataFrame:
    """Columns number, score, best: the running minimum of the score over complete trials by number."""
    out = _scored(df)[["number", "score"]].reset_index(drop=True)
    out["best"] = out["score"].cummin()
    return out


def plain(value: Any) -> Any:
    """numpy/pandas scalars to JSON-friendly Python values (NA and NaN become None)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Best trial, each baseline's score with best/baseline ratio (< 1: the search beat it), trial counts.

    A baseline run more than once (e.g. retried) is represented by its best complete trial.
    """
    state = df["state"]
    counts = {
        "trials": len(df),
        "complete": int((state == "COMPLETE").sum()),
        "pruned": int((state == "PRUNED").sum()),
        "skipped": int(((state == "PRUNED") & df["skipped"]).sum()),
        "failed": int((state == "FAIL").sum()),
        "running": int(state.isin(["RUNNING", "WAITING"]).sum()),
        "retried": int(df["retried_from"].notna().sum()),
    }
    done = _scored(df)
    if done.empty:
        return {"best": None, "baselines": [], "counts": counts}
    top = done.loc[done["score"].idxmin()]  # first (lowest number) on ties: done is in number order
    best = {k: plain(top[k]) for k in _BEST_FIELDS}
    baselines = []
    for name, rows in done[done["baseline"] != ""].groupby("baseline", sort=True):
        b = rows.loc[rows["score"].idxmin()]
        baselines.append(
            {"baseline": str(name), "number": int(b["number"]), "score": float(b["score"]),
             "ratio": best["score"] / float(b["score"]) if b["score"] > 0 else None}
        )
    return {"best": best, "baselines": baselines, "counts": counts}


def leaderboard(df: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Complete trials with a score, best first (ties by trial number), ranked from 1."""
    done = _scored(df).sort_values(["score", "number"], kind="stable")
    if top is not None:
        done = done.head(top)
    out = done.rename(columns={"number": "trial"}).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out[list(LEADERBOARD_COLUMNS)]


def _fmt(value: Any, spec: str = "") -> str:
    return "" if plain(value) is None else format(value, spec)


# --- importances --------------------------------------------------------------------------------
class _ImportanceInfo(NamedTuple):
    importances: dict[str, float] | None
    reason: str  # why there are none; "" when there are


def _score_target(t: FrozenTrial) -> float:
    """Importance target: the stored ranking score (NaN filters a trial out), never the trial values."""
    return _num(t.user_attrs.get("score"))


def _memory_copy(trials: Sequence[FrozenTrial], directions: Sequence[Any]) -> optuna.Study:
    """An in-memory study of just these trials: no second storage read, no unscored trials."""
    storage = optuna.storages.InMemoryStorage()
    storage.create_new_study(directions=list(directions), study_name="report-importances")
    study = optuna.load_study(study_name="report-importances", storage=storage)
    study.add_trials(trials)
    return study


def _get_importance_info(
    trials: Sequence[FrozenTrial], directions: Sequence[Any], min_trials: int = 5
) -> _ImportanceInfo:
    scored = [t for t in trials if t.state == TrialState.COMPLETE and math.isfinite(_score_target(t))]
    if len(scored) < min_trials:
        return _ImportanceInfo(
            None, f"only {len(scored)} complete trial(s) with a score; importances need {min_trials}."
        )
    seen: dict[str, set[Any]] = {}
    for t in scored:
        for name, value in t.params.items():
            seen.setdefault(name, set()).add(value)
    if not any(len(values) > 1 for values in seen.values()):
        return _ImportanceInfo(None, "the search parameters never varied across the complete trials.")
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


# --- figures: info ------------------------------------------------------------------------------
class _Point(NamedTuple):
    number: int
    baseline: str
    gflops: float
    mparams: float
    cost: float
    px_error: float
    score: float
    hover: str


class _ParetoInfo(NamedTuple):
    front: list[_Point]  # non-dominated in (cost, px_error), by increasing cost
    dominated: list[_Point]
    baselines: list[_Point]  # complete baseline trials, wherever they lie (also in front/dominated)
    iso_lines: list[dict[str, Any]]
    cost_range: tuple[float, float]
    error_range: tuple[float, float]


class _Pareto3dInfo(NamedTuple):
    front: list[_Point]  # non-dominated in (gflops, mparams, px_error)
    others: list[_Point]


class _HistoryInfo(NamedTuple):
    number: list[int]
    score: list[float]
    best: list[float]
    hover: list[str]
    baselines: list[tuple[str, float]]  # (name, score): horizontal reference lines


class _ParallelInfo(NamedTuple):
    dimensions: list[dict[str, Any]]  # label, values, and tickvals/ticktext for a categorical axis
    log_score: list[float]  # colour: log10 score


def _arch_label(r: Any) -> str:
    """One-line architecture label in ArchConfig.short()'s style, tolerant of missing fields."""
    label = f"{r.backbone or '?'} x{_fmt(r.backbone_width, '.2f') or '?'} | head {_fmt(r.head_depth) or '?'}x" + (
        _fmt(r.head_width, ".2f") or "?"
    )
    if plain(r.input_size) is not None:
        label += f" | {r.input_size}px"
    if plain(r.aug_multiplier) is not None:
        label += f" | aug x{r.aug_multiplier}"
    return label


def _hover(r: Any) -> str:
    title = f"trial {r.number}" + (f" ({r.baseline})" if r.baseline else "")
    lines = [
        title,
        _arch_label(r),
        f"GFLOPs {_fmt(r.gflops, '.4f')}, MParams {_fmt(r.mparams, '.4f')}",
        f"px error {_fmt(r.px_error, '.3f')}, score {_fmt(r.score, '.4g')}",
    ]
    return "<br>".join(html.escape(line) for line in lines)


def _points(df: pd.DataFrame) -> list[_Point]:
    return [
        _Point(int(r.number), str(r.baseline), float(r.gflops), float(r.mparams), float(r.cost), float(r.px_error),
               float(r.score), _hover(r))
        for r in df.itertuples(index=False)
    ]


def _padded(lo: float, hi: float, frac: float = 0.08, floor: float = 0.25) -> tuple[float, float]:
    pad = max((hi - lo) * frac, floor)
    return lo - pad, hi + pad


def _get_pareto_info(df: pd.DataFrame) -> _ParetoInfo:
    front = pareto_mask(df)
    cost = df["cost"].to_numpy(dtype=float)
    ok = (df["state"] == "COMPLETE") & np.isfinite(df["px_error"].to_numpy(dtype=float)) & (cost > 0)
    shown = df[ok].sort_values(["cost", "px_error", "number"], kind="stable")
    scored = _scored(shown)
    if shown.empty:
        return _ParetoInfo([], [], [], [], (1.0, 10.0), (0.0, 1.0))
    base_scores = scored.loc[scored["baseline"] != "", "score"].tolist()
    levels = _iso_score_levels(float(scored["score"].min()), base_scores) if not scored.empty else []
    cost_range = (float(shown["cost"].min()) / 1.5, float(shown["cost"].max()) * 1.5)
    return _ParetoInfo(
        front=_points(shown[front[shown.index]]),
        dominated=_points(shown[~front[shown.index]]),
        baselines=_points(shown[shown["baseline"] != ""]),
        iso_lines=iso_score_lines(levels, cost_range),
        cost_range=cost_range,
        error_range=_padded(float(shown["px_error"].min()), float(shown["px_error"].max())),
    )


def _get_pareto3d_info(df: pd.DataFrame) -> _Pareto3dInfo:
    front = pareto_mask_3d(df)
    values = df[["gflops", "mparams", "px_error"]].to_numpy(dtype=float)
    ok = (df["state"] == "COMPLETE") & np.isfinite(values).all(axis=1)
    return _Pareto3dInfo(front=_points(df[ok & front]), others=_points(df[ok & ~front]))


def _get_history_info(df: pd.DataFrame) -> _HistoryInfo:
    done = _scored(df)
    run = best_so_far(df)
    bases = done[done["baseline"] != ""].groupby("baseline", sort=True)["score"].min()
    return _HistoryInfo(
        number=run["number"].astype(int).tolist(),
        score=run["score"].tolist(),
        best=run["best"].tolist(),
        hover=[_hover(r) for r in done.itertuples(index=False)],
        baselines=[(str(name), float(s)) for name, s in bases.items()],
    )


def _get_parallel_info(df: pd.DataFrame) -> _ParallelInfo:
    """Search parameters of the scored trials; a parameter missing everywhere is left out, then rows
    still missing one are (parallel coordinates cannot draw a gap)."""
    done = _scored(df)
    present = pd.DataFrame({c: done[c].notna() & (done[c] != "") if c == "backbone" else done[c].notna()
                            for c in _SEARCH_PARAMS})
    cols = [c for c in _SEARCH_PARAMS if present[c].any()]
    done = done[present[cols].all(axis=1)]
    dims: list[dict[str, Any]] = []
    for col in cols:
        if col == "backbone":
            names = sorted(done[col].unique().tolist())
            codes = done[col].map({n: i for i, n in enumerate(names)})
            dims.append({"label": col, "values": codes.astype(int).tolist(), "tickvals": list(range(len(names))),
                         "ticktext": names})
        else:
            dims.append({"label": col, "values": done[col].astype(float).tolist()})
    log_score = np.log10(done["score"].to_numpy(dtype=float)).tolist()
    if dims:
        dims.append({"label": "log10 score", "values": log_score})
    return _ParallelInfo(dims, log_score)


# --- figures: drawing ---------------------------------------------------------------------------
def _xy(points: list[_Point], x: str, y: str) -> dict[str, Any]:
    return {"x": [getattr(p, x) for p in points], "y": [getattr(p, y) for p in points],
            "hovertext": [p.hover for p in points], "hoverinfo": "text"}


def _iso_label_index(line: dict[str, Any], error_range: tuple[float, float]) -> int | None:
    """Label each iso line at its highest visible point (its top-left end inside the axes)."""
    visible = [i for i, e in enumerate(line["px_error"]) if error_range[0] <= e <= error_range[1]]
    return min(visible, key=lambda i: -line["px_error"][i]) if visible else None


def _get_pareto_plot(info: _ParetoInfo) -> go.Figure:
    fig = go.Figure()
    for line in info.iso_lines:
        text = [""] * len(line["cost"])
        at = _iso_label_index(line, info.error_range)
        if at is not None:
            text[at] = f"score {line['score']:.4g}"
        fig.add_trace(go.Scatter(
            x=line["cost"], y=line["px_error"], mode="lines+text", text=text, textposition="middle right",
            textfont={"color": "#666", "size": 11}, line={"dash": "dot", "width": 1, "color": "#888"},
            name=f"score {line['score']:.4g}", hoverinfo="name", legendgroup="iso",
        ))
    fig.add_trace(go.Scatter(**_xy(info.dominated, "cost", "px_error"), mode="markers", name="dominated",
                             marker={"color": "#8c96a0", "size": 7, "opacity": 0.35}))
    fig.add_trace(go.Scatter(**_xy(info.front, "cost", "px_error"), mode="lines+markers", name="Pareto front",
                             line={"shape": "hv", "color": "#d62728", "width": 2},
                             marker={"color": "#d62728", "size": 9}))
    fig.add_trace(go.Scatter(**_xy(info.baselines, "cost", "px_error"), mode="markers+text", name="baselines",
                             text=[p.baseline for p in info.baselines], textposition="top center",
                             marker={"symbol": "star", "size": 15, "color": "#1f1f1f", "line": {"width": 1,
                                     "color": "#ffd400"}}))
    fig.update_layout(
        title="Cost vs pixel error (lower-left is better; dotted: constant score)",
        xaxis={"type": "log", "title": "cost = GFLOPs x MParams (log)",
               "range": [math.log10(info.cost_range[0]), math.log10(info.cost_range[1])]},
        yaxis={"title": "mean pixel error (px)", "range": list(info.error_range)},
        height=_FIG_HEIGHT, hovermode="closest",
    )
    return fig


def _get_pareto3d_plot(info: _Pareto3dInfo) -> go.Figure:
    def trace(points: list[_Point], name: str, marker: dict[str, Any]) -> go.Scatter3d:
        return go.Scatter3d(x=[p.gflops for p in points], y=[p.mparams for p in points],
                            z=[p.px_error for p in points], hovertext=[p.hover for p in points], hoverinfo="text",
                            mode="markers", name=name, marker=marker)

    fig = go.Figure([
        trace(info.others, "dominated", {"size": 3, "color": "#8c96a0", "opacity": 0.4}),
        trace(info.front, "non-dominated (3-D)", {"size": 5, "color": "#d62728"}),
        trace([p for p in info.front + info.others if p.baseline], "baselines",
              {"size": 7, "symbol": "diamond", "color": "#1f1f1f"}),
    ])
    fig.update_layout(
        title="GFLOPs, MParams and pixel error (the three 'pareto' objectives)",
        scene={"xaxis": {"title": "GFLOPs", "type": "log"}, "yaxis": {"title": "MParams", "type": "log"},
               "zaxis": {"title": "px error"}},
        height=_FIG_HEIGHT,
    )
    return fig


def _get_history_plot(info: _HistoryInfo) -> go.Figure:
    fig = go.Figure([
        go.Scatter(x=info.number, y=info.score, mode="markers", name="score", hovertext=info.hover,
                   hoverinfo="text", marker={"color": "#1f77b4", "size": 6}),
        go.Scatter(x=info.number, y=info.best, mode="lines", name="best so far", line={"shape": "hv",
                   "color": "#d62728"}),
    ])
    span = [min(info.number), max(info.number)] if info.number else [0, 1]
    for name, s in info.baselines:  # a trace, not a shape: shapes on log axes need log10 coordinates
        fig.add_trace(go.Scatter(x=span, y=[s, s], mode="lines", name=f"{name} ({s:.4g})",
                                 line={"dash": "dash", "width": 1, "color": "#444"}))
    fig.update_layout(title="Score per trial and best so far", xaxis={"title": "trial"},
                      yaxis={"title": "score (log)", "type": "log"}, height=_FIG_HEIGHT)
    return fig


def _get_parallel_plot(info: _ParallelInfo) -> go.Figure:
    line = {"color": info.log_score, "colorscale": "Viridis", "reversescale": True, "showscale": True,
            "colorbar": {"title": {"text": "log10 score"}}}
    fig = go.Figure(go.Parcoords(line=line, dimensions=info.dimensions))
    fig.update_layout(title="Search parameters of complete trials (bright = low score)", height=_FIG_HEIGHT)
    return fig


def _get_importance_plot(info: _ImportanceInfo) -> go.Figure:
    items = sorted((info.importances or {}).items(), key=lambda kv: kv[1])  # largest drawn on top
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker={"color": "#1f77b4"}))
    fig.update_layout(title="Parameter importance for the score (optuna PED-ANOVA)", xaxis={"title": "importance"},
                      height=max(300, 60 * len(items) + 150))
    return fig


# --- the page -----------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f4f4f4; position: sticky; top: 0; }
.scroll { max-height: 600px; overflow: auto; }
.note { color: #666; }
"""


def _json_script(element_id: str, data: Any) -> str:
    """A JSON block that cannot close its <script> early (<, >, & are \\u-escaped; still valid JSON)."""
    text = json.dumps(data, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _pareto_data(info: _ParetoInfo) -> list[dict[str, Any]]:
    return [{"number": p.number, "cost": p.cost, "px_error": p.px_error, "score": plain(p.score),
             "baseline": p.baseline} for p in info.front]


def _summary_html(s: dict[str, Any], objective: str) -> str:
    e = html.escape
    best = s["best"]
    arch = _arch_label(SimpleNamespace(**best))
    tag = f" ({e(best['baseline'])})" if best["baseline"] else ""
    g, m, px = (_fmt(best[k], ".4f" if k != "px_error" else ".3f") or "?" for k in ("gflops", "mparams", "px_error"))
    headline = (
        f"<p><b>Best trial #{best['number']}</b>{tag}: {e(arch)}<br>GFLOPs {g} &times; MParams {m} &times; "
        f"exp({px} px) = <b>score {best['score']:.4g}</b></p>"
    )
    parts = [headline]
    if s["baselines"]:
        rows = "".join(
            f"<tr><td style='text-align:left'>{e(b['baseline'])}</td><td>{b['number']}</td>"
            f"<td>{b['score']:.4g}</td><td>{_fmt(b['ratio'], '.3f')}</td></tr>"
            for b in s["baselines"]
        )
        parts.append(
            "<table><tr><th>baseline</th><th>trial</th><th>score</th><th>best / baseline</th></tr>"
            f"{rows}</table><p class='note'>A ratio below 1 means the best trial beats that baseline.</p>"
        )
    else:
        parts.append("<p class='note'>No complete baseline trial in this study.</p>")
    c = s["counts"]
    parts.append(
        f"<p>{c['trials']} trials: {c['complete']} complete, {c['pruned']} pruned ({c['skipped']} skipped before "
        f"training), {c['failed']} failed, {c['running']} running or waiting; {c['retried']} retried a dead "
        f"worker's trial. Objective: {e(objective or 'unknown')}.</p>"
    )
    return "\n".join(parts)


def _get_fidelity_plot(fid: dict[str, Any]) -> go.Figure:
    rows = fid.get("rows") or []
    lo = min(min(r["proxy_score"], r["full_score"]) for r in rows)
    hi = max(max(r["proxy_score"], r["full_score"]) for r in rows)
    text = [f"#{r['number']}" + (f" {r['baseline']}" if r.get("baseline") else "") for r in rows]
    hover = [f"trial {r['number']}: {html.escape(str(r.get('arch', '')))}<br>proxy {r['proxy_score']:.4g} "
             f"({r['proxy_px_error']:.2f} px)<br>full {r['full_score']:.4g} ({r['full_px_error']:.2f} px)"
             for r in rows]
    fig = go.Figure([
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "#999"}, name="y = x",
                   hoverinfo="skip"),
        go.Scatter(x=[r["proxy_score"] for r in rows], y=[r["full_score"] for r in rows], mode="markers+text",
                   text=text, textposition="top center", hovertext=hover, hoverinfo="text", name="trials",
                   marker={"size": 10}),
    ])
    fig.update_xaxes(type="log", title="proxy score")
    fig.update_yaxes(type="log", title="full-retrain score (test set)")
    fig.update_layout(height=_FIG_HEIGHT, template="plotly_white", showlegend=False)
    return fig


def _fidelity_html(fid: dict[str, Any]) -> str:
    def f(key: str) -> str:
        v = fid.get(key)
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    return (
        f"<p>{fid.get('n', 0)} architectures retrained with the full recipe. <b>Kendall tau</b> proxy vs full: "
        f"score {f('kendall_tau_score')}, error {f('kendall_tau_error')}; <b>Spearman rho</b>: score "
        f"{f('spearman_rho_score')}, error {f('spearman_rho_error')}.</p><p class='note'>Cost is exact and the "
        "same in proxy and full training, so the score correlation is helped by the cost term; the error "
        "correlation is what the short proxy actually estimates.</p>"
    )


def _render_page(name: str, objective: str, df: pd.DataFrame, importance: _ImportanceInfo,
                 fidelity: dict[str, Any] | None = None) -> str:
    pareto = _get_pareto_info(df)
    figures = [
        ("Pareto front: cost vs pixel error", _get_pareto_plot(pareto)),
        ("GFLOPs, MParams, pixel error", _get_pareto3d_plot(_get_pareto3d_info(df))),
        ("History", _get_history_plot(_get_history_info(df))),
        ("Search parameters", _get_parallel_plot(_get_parallel_info(df))),
    ]
    if importance.importances:
        figures.append(("Parameter importances", _get_importance_plot(importance)))
    if fidelity and fidelity.get("rows"):
        figures.append(("Proxy fidelity: proxy vs full-retrain score", _get_fidelity_plot(fidelity)))
    blocks = []
    for i, (title, fig) in enumerate(figures):  # plotly.js inline once, in the first figure: works offline
        div = fig.to_html(full_html=False, include_plotlyjs=i == 0, config=_PLOT_CONFIG,
                          default_height=f"{fig.layout.height or _FIG_HEIGHT}px", div_id=f"fig-{i}")
        blocks.append(f"<h2>{html.escape(title)}</h2>\n{div}")
        if title.startswith("Proxy fidelity"):
            blocks.append(_fidelity_html(fidelity))
    if not importance.importances:
        reason = html.escape(importance.reason)
        blocks.append(f"<h2>Parameter importances</h2>\n<p class='note'>Not shown: {reason}</p>")
    if not (fidelity and fidelity.get("rows")):
        blocks.append("<h2>Proxy fidelity</h2>\n<p class='note'>Not measured yet: <code>handkp-search fidelity "
                      f"--study-name {html.escape(name)}</code> retrains the top trials fully and reports how well "
                      "the proxy ranked them.</p>")
    facts = summary(df)
    blank_na = {col: (lambda v: "" if pd.isna(v) else str(v)) for col in _INT_COLUMNS}  # na_rep skips Int64's NA
    table = df.to_html(index=False, na_rep="", border=0, float_format=lambda v: f"{v:.6g}", formatters=blank_na)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>handkp-search report: {html.escape(name)}</title>
<style>{_CSS}</style></head>
<body>
<h1>handkp-search report: {html.escape(name)}</h1>
<h2>Summary</h2>
{_summary_html(facts, objective)}
{chr(10).join(blocks)}
<h2>All trials</h2>
<div class="scroll">{table}</div>
{_json_script("pareto-data", _pareto_data(pareto))}
{_json_script("summary-data", facts)}
</body></html>
"""


def write_report(study: optuna.Study, html_path: str | Path) -> tuple[Path, Path]:
    """Write the self-contained HTML report and the trials CSV beside it (same stem, .csv).

    Raises StudyError, writing nothing, when no trial is complete. Both files are written atomically
    only after the whole page has rendered, so a failure never leaves a half report.
    """
    html_path = Path(html_path)
    csv_path = html_path.with_suffix(".csv")
    if csv_path == html_path:
        raise NasError(f"{html_path}: the report page needs a suffix other than .csv (the CSV goes beside it)")
    trials = study.get_trials(deepcopy=False)
    df = _frame(trials)
    if _scored(df).empty:
        raise StudyError(f"study '{study.study_name}' has no complete trial to report")
    objective = str(study.user_attrs.get("objective", ""))
    fidelity = study.user_attrs.get("fidelity")
    page = _render_page(study.study_name, objective, df, _get_importance_info(trials, study.directions),
                        fidelity if isinstance(fidelity, dict) else None)
    write_text_atomic(csv_path, df.to_csv(index=False))
    write_text_atomic(html_path, page)
    return html_path, csv_path
