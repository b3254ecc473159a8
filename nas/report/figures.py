"""The report's figures, each split the optuna way: `_get_X_info(...)` computes a NamedTuple of plain
data (what the tests check) and `_get_X_plot(info)` only draws it with plotly.
"""
from __future__ import annotations

import html
import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from nas.report.frame import arch_label, fmt, plain, scored, to_float
from nas.report.importance import _ImportanceInfo
from nas.report.pareto import iso_score_levels, iso_score_lines, pareto_mask, pareto_mask_3d
from nas.report.ranking import best_so_far

FIG_HEIGHT = 560
_SEARCH_PARAMS = ("backbone", "backbone_width", "head_depth", "head_width", "aug_multiplier")
_CORRELATIONS = ("kendall_tau_score", "kendall_tau_error", "spearman_rho_score", "spearman_rho_error",
                 "cost_only_kendall_tau_score", "cost_only_kendall_tau_error")


# --- info ---------------------------------------------------------------------------------------
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


class _FidelityInfo(NamedTuple):
    number: list[int]
    proxy_score: list[float]
    full_score: list[float]
    text: list[str]  # marker labels: "#<trial>" and the baseline's name
    hover: list[str]
    diagonal: tuple[float, float]  # the y = x reference spans both scores' range
    n: int  # architectures retrained
    correlations: dict[str, float | None]  # Kendall tau / Spearman rho of score and error; None: not computable
    intervals: dict[str, tuple[float | None, float | None] | None]  # bootstrap [lo, hi]; None: not stored
    ci_level: float  # of the intervals (0.95)


def _hover(r: Any) -> str:
    title = f"trial {r.number}" + (f" ({r.baseline})" if r.baseline else "")
    lines = [
        title,
        arch_label(r),
        f"GFLOPs {fmt(r.gflops, '.4f')}, MParams {fmt(r.mparams, '.4f')}",
        f"px error {fmt(r.px_error, '.3f')}, score {fmt(r.score, '.4g')}",
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
    done = scored(shown)
    if shown.empty:
        return _ParetoInfo([], [], [], [], (1.0, 10.0), (0.0, 1.0))
    base_scores = done.loc[done["baseline"] != "", "score"].tolist()
    levels = iso_score_levels(float(done["score"].min()), base_scores) if not done.empty else []
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
    done = scored(df)
    run = best_so_far(df)
    bases = done[done["baseline"] != ""].groupby("baseline", sort=True)["score"].min()
    return _HistoryInfo(
        number=run["number"].astype(int).tolist(),
        score=run["score"].tolist(),
        best=run["best"].tolist(),
        hover=[_hover(r) for r in done.itertuples(index=False)],
        baselines=[(str(name), float(s)) for name, s in bases.items()],
    )


def _dimension(done: pd.DataFrame, col: str) -> dict[str, Any]:
    """One parallel-coordinates axis; the categorical backbone is coded 0..k-1 with its names as ticks."""
    if col != "backbone":
        return {"label": col, "values": done[col].astype(float).tolist()}
    names = sorted(done[col].unique().tolist())
    codes = done[col].map({n: i for i, n in enumerate(names)})
    return {"label": col, "values": codes.astype(int).tolist(), "tickvals": list(range(len(names))),
            "ticktext": names}


def _get_parallel_info(df: pd.DataFrame) -> _ParallelInfo:
    """Search parameters of the scored trials; a parameter missing everywhere is left out, then rows
    still missing one are (parallel coordinates cannot draw a gap)."""
    done = scored(df)
    present = pd.DataFrame({c: done[c].notna() & (done[c] != "") if c == "backbone" else done[c].notna()
                            for c in _SEARCH_PARAMS})
    cols = [c for c in _SEARCH_PARAMS if present[c].any()]
    done = done[present[cols].all(axis=1)]
    dims = [_dimension(done, col) for col in cols]
    log_score = np.log10(done["score"].to_numpy(dtype=float)).tolist()
    if dims:
        dims.append({"label": "log10 score", "values": log_score})
    return _ParallelInfo(dims, log_score)


def _fidelity_hover(r: dict[str, Any]) -> str:
    return (f"trial {r['number']}: {html.escape(str(r.get('arch', '')))}<br>proxy {r['proxy_score']:.4g} "
            f"({r['proxy_px_error']:.2f} px)<br>full {r['full_score']:.4g} ({r['full_px_error']:.2f} px)")


def _get_fidelity_info(fidelity: Any) -> _FidelityInfo | None:
    """The stored proxy-fidelity run (study attribute `fidelity`); None when none retrained anything yet."""
    rows = fidelity.get("rows") if isinstance(fidelity, dict) else None
    if not rows:
        return None
    both = [float(r[k]) for r in rows for k in ("proxy_score", "full_score")]
    return _FidelityInfo(
        number=[int(r["number"]) for r in rows],
        proxy_score=[float(r["proxy_score"]) for r in rows],
        full_score=[float(r["full_score"]) for r in rows],
        text=[f"#{r['number']}" + (f" {r['baseline']}" if r.get("baseline") else "") for r in rows],
        hover=[_fidelity_hover(r) for r in rows],
        diagonal=(min(both), max(both)),
        n=int(fidelity.get("n", len(rows))),
        correlations={k: plain(to_float(fidelity.get(k))) for k in _CORRELATIONS},
        intervals={k: _interval(fidelity.get(f"{k}_ci")) for k in _CORRELATIONS},
        ci_level=to_float(fidelity.get("ci_level", 0.95)),
    )


def _interval(ci: Any) -> tuple[float | None, float | None] | None:
    """A stored [lo, hi] bootstrap interval (NaN bounds: None); None when absent (runs stored before
    intervals were computed) or malformed."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return None
    return plain(to_float(ci[0])), plain(to_float(ci[1]))


# --- drawing ------------------------------------------------------------------------------------
def _xy(points: list[_Point], x: str, y: str) -> dict[str, Any]:
    return {"x": [getattr(p, x) for p in points], "y": [getattr(p, y) for p in points],
            "hovertext": [p.hover for p in points], "hoverinfo": "text"}


def _iso_label_index(line: dict[str, Any], error_range: tuple[float, float]) -> int | None:
    """Label each iso line at its highest visible point (its top-left end inside the axes)."""
    visible = [i for i, e in enumerate(line["px_error"]) if error_range[0] <= e <= error_range[1]]
    return min(visible, key=lambda i: -line["px_error"][i]) if visible else None


def _iso_trace(line: dict[str, Any], error_range: tuple[float, float]) -> go.Scatter:
    text = [""] * len(line["cost"])
    at = _iso_label_index(line, error_range)
    if at is not None:
        text[at] = f"score {line['score']:.4g}"
    return go.Scatter(
        x=line["cost"], y=line["px_error"], mode="lines+text", text=text, textposition="middle right",
        textfont={"color": "#666", "size": 11}, line={"dash": "dot", "width": 1, "color": "#888"},
        name=f"score {line['score']:.4g}", hoverinfo="name", legendgroup="iso",
    )


def _get_pareto_plot(info: _ParetoInfo) -> go.Figure:
    fig = go.Figure([_iso_trace(line, info.error_range) for line in info.iso_lines])
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
        height=FIG_HEIGHT, hovermode="closest",
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
        height=FIG_HEIGHT,
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
                      yaxis={"title": "score (log)", "type": "log"}, height=FIG_HEIGHT)
    return fig


def _get_parallel_plot(info: _ParallelInfo) -> go.Figure:
    line = {"color": info.log_score, "colorscale": "Viridis", "reversescale": True, "showscale": True,
            "colorbar": {"title": {"text": "log10 score"}}}
    fig = go.Figure(go.Parcoords(line=line, dimensions=info.dimensions))
    fig.update_layout(title="Search parameters of complete trials (bright = low score)", height=FIG_HEIGHT)
    return fig


def _get_importance_plot(info: _ImportanceInfo) -> go.Figure:
    items = sorted((info.importances or {}).items(), key=lambda kv: kv[1])  # largest drawn on top
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker={"color": "#1f77b4"}))
    fig.update_layout(title="Parameter importance for the score (optuna PED-ANOVA)", xaxis={"title": "importance"},
                      height=max(300, 60 * len(items) + 150))
    return fig


def _get_fidelity_plot(info: _FidelityInfo) -> go.Figure:
    lo, hi = info.diagonal
    fig = go.Figure([
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dot", "color": "#999"}, name="y = x",
                   hoverinfo="skip"),
        go.Scatter(x=info.proxy_score, y=info.full_score, mode="markers+text", text=info.text,
                   textposition="top center", hovertext=info.hover, hoverinfo="text", name="trials",
                   marker={"size": 10}),
    ])
    fig.update_xaxes(type="log", title="proxy score")
    fig.update_yaxes(type="log", title="full-retrain score (test set)")
    fig.update_layout(height=FIG_HEIGHT, template="plotly_white", showlegend=False)
    return fig
