"""The study report: one offline HTML page (summary, Pareto fronts, history, parameters, importances,
proxy fidelity, proxy noise, all trials) filled from `template.html`, plus a CSV of the same trials table.

All wording and layout live in the template; here values are prepared and every text value is
HTML-escaped on the way in, so a study or baseline name cannot inject markup.
"""
from __future__ import annotations

import functools
import html
import json
import re
import string
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go

from nas.errors import NasError, StudyError
from nas.io import write_text_atomic
from nas.report.figures import (
    FIG_HEIGHT,
    _FidelityInfo,
    _get_fidelity_info,
    _get_fidelity_plot,
    _get_history_info,
    _get_history_plot,
    _get_importance_plot,
    _get_parallel_info,
    _get_parallel_plot,
    _get_pareto3d_info,
    _get_pareto3d_plot,
    _get_pareto_info,
    _get_pareto_plot,
    _ParetoInfo,
)
from nas.report.frame import INT_COLUMNS, arch_label, fmt, frame_of, plain, scored, to_float
from nas.report.importance import _get_importance_info, _ImportanceInfo
from nas.report.noise import repeat_groups, study_noise
from nas.report.ranking import blind_line, summary
from nas.search.noise import NOISE_ICC_FLOOR, NoiseSummary, noise_verdict

__all__ = ["write_report"]

_FRAGMENT = re.compile(r"^<!-- fragment: (\w+) -->\n", re.MULTILINE)
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_ALWAYS_SHOWN = ("pareto", "pareto3d", "history", "parallel")  # figures with a fixed place in the page


class _Html(str):
    """Markup built here (figures, tables, filled fragments): inserted as is, where text is escaped."""


@functools.lru_cache(maxsize=1)
def _fragments() -> dict[str, string.Template]:
    """The template file's named fragments: the page itself and the blocks that are there or not."""
    text = resources.files("nas.report").joinpath("template.html").read_text(encoding="utf-8")
    parts = _FRAGMENT.split(text)  # ["", name, body, name, body, ...]
    return {name: string.Template(body.strip("\n")) for name, body in zip(parts[1::2], parts[2::2])}


def _fill(fragment: str, **values: Any) -> _Html:
    """A fragment with every placeholder filled (a missing value raises); text values are HTML-escaped."""
    safe = {k: v if isinstance(v, _Html) else html.escape(str(v)) for k, v in values.items()}
    return _Html(_fragments()[fragment].substitute(safe))


def _baselines_html(baselines: list[dict[str, Any]]) -> _Html:
    if not baselines:
        return _fill("no_baselines")
    rows = "\n".join(
        _fill("baseline_row", baseline=b["baseline"], number=b["number"], score=f"{b['score']:.4g}",
              ratio=fmt(b["ratio"], ".3f"))
        for b in baselines
    )
    return _fill("baselines", rows=_Html(rows))


def _best_baseline(name: str) -> _Html:
    """The baseline's name after the best trial's number, or the template's fragment
    `best_baseline_<name>` where it has one (the space's cheapest says what it means)."""
    if not name:
        return _Html("")
    special = f"best_baseline_{name}"
    return _fill(special if special in _fragments() else "best_baseline", baseline=name)


def _runner_up_html(runner: dict[str, Any] | None, df: pd.DataFrame) -> _Html:
    if runner is None or runner["margin_px"] is None:
        return _Html("")
    row = df.loc[df["number"] == runner["number"]].iloc[0]
    return _fill("runner_up", number=runner["number"], arch=arch_label(row), score=f"{runner['score']:.4g}",
                 margin=fmt(runner["margin_px"], ".2f"))


def _blind_html(blind: dict[str, float] | None) -> _Html:
    line = blind_line(blind)
    return _Html(f"<br><b>Note:</b> {html.escape(line)}.") if line else _Html("")


def _summary_values(facts: dict[str, Any], objective: str, df: pd.DataFrame) -> dict[str, Any]:
    """The summary section's placeholders: the best trial's headline, baselines table, trial counts."""
    best = facts["best"]
    return {
        "best_number": best["number"],
        "best_baseline": _best_baseline(best["baseline"]),
        "best_arch": arch_label(SimpleNamespace(**best)),
        "best_gflops": fmt(best["gflops"], ".4f") or "?",
        "best_mparams": fmt(best["mparams"], ".4f") or "?",
        "best_px_error": fmt(best["px_error"], ".3f") or "?",
        "best_score": f"{best['score']:.4g}",
        "runner_up": _Html(_runner_up_html(facts["runner_up"], df) + _blind_html(facts.get("blind"))),
        "baselines": _baselines_html(facts["baselines"]),
        "objective": objective or "unknown",
        **facts["counts"],
    }


def _figures(df: pd.DataFrame, pareto: _ParetoInfo, importance: _ImportanceInfo,
             fidelity: _FidelityInfo | None) -> dict[str, go.Figure]:
    """Every figure on the page, in page order; importances and fidelity only when there is something."""
    figures = {
        "pareto": _get_pareto_plot(pareto),
        "pareto3d": _get_pareto3d_plot(_get_pareto3d_info(df)),
        "history": _get_history_plot(_get_history_info(df)),
        "parallel": _get_parallel_plot(_get_parallel_info(df)),
    }
    if importance.importances:
        figures["importance"] = _get_importance_plot(importance)
    if fidelity is not None:
        figures["fidelity"] = _get_fidelity_plot(fidelity)
    return figures


def _figure_divs(figures: dict[str, go.Figure]) -> dict[str, _Html]:
    """One div per figure, ids fig-0, fig-1, ...; plotly.js goes inline once, in the first: works offline."""
    return {
        name: _Html(fig.to_html(full_html=False, include_plotlyjs=i == 0, config=_PLOT_CONFIG,
                                default_height=f"{fig.layout.height or FIG_HEIGHT}px", div_id=f"fig-{i}"))
        for i, (name, fig) in enumerate(figures.items())
    }


def _importance_html(info: _ImportanceInfo, div: _Html | None) -> _Html:
    return _fill("no_importance", reason=info.reason) if div is None else _fill("importance", figure=div)


def _fidelity_html(info: _FidelityInfo | None, div: _Html | None, study_name: str) -> _Html:
    """Each figure as `0.467 [0.10, 0.78]` (its bootstrap interval), or without brackets when the run was
    stored before intervals existed; `[n/a]` when the interval could not be computed."""
    if info is None or div is None:
        return _fill("no_fidelity", name=study_name)
    correlations = {}
    for k, v in info.correlations.items():
        ci = info.intervals.get(k)
        bracket = "" if ci is None else " [n/a]" if None in ci else f" [{ci[0]:.2f}, {ci[1]:.2f}]"
        correlations[k] = ("n/a" if v is None else f"{v:.3f}") + bracket
    level = fmt(info.ci_level * 100, ".0f") or "95"
    return _fill("fidelity", figure=div, n=info.n, ci_level=f"{level}%", **correlations)


def _noise_html(df: pd.DataFrame) -> _Html:
    """Each repeated baseline's errors, the spreads within and across architectures, the intraclass
    correlation of the repeated ones (n/a with fewer than two) and the verdict it gives; the old ratio
    beside it; without repeats, how to measure them."""
    noise = study_noise(df)
    if noise is None:
        return _fill("no_noise")
    groups = repeat_groups(df)
    rows = "\n".join(_fill("noise_row", baseline=name, errors=", ".join(f"{e:.3f}" for e in groups[name]),
                            range=f"{spread:.3f}") for name, spread in noise.ranges.items())
    return _fill("noise", rows=_Html(rows), within=f"{noise.within:.3g}", across=fmt(noise.across, ".3g") or "n/a",
                 snr=fmt(noise.snr, ".3g") or "n/a", icc=_icc(noise), icc_floor=NOISE_ICC_FLOOR,
                 verdict=noise_verdict(noise), groups=noise.groups, repeats=noise.repeats)


def _icc(noise: NoiseSummary) -> str:
    """The ICC with its 95% interval, or n/a."""
    icc = fmt(noise.icc, ".2f")
    if not icc:
        return "n/a"
    return icc + (f" (95% interval {noise.icc_ci[0]:.2f} to {noise.icc_ci[1]:.2f})" if noise.icc_ci else "")


def _proxy_html(df: pd.DataFrame, parents: list[dict[str, Any]]) -> _Html:
    """Which proxy made the study, what a trial's evaluation took, and what the shared parents cost."""
    done = df[df["state"] == "COMPLETE"]
    modes = ", ".join(f"{m} ({n} trials)" for m, n in done["proxy"].replace("", "scratch").value_counts().items())
    eval_s = fmt(float(done["train_seconds"].median()), ".3g") if len(done) else "n/a"
    shared = "".join(f" Shared {p.get('backbone', '?')} parent: {fmt(to_float(p.get('epochs')), 'g')} epochs"
                     f"{_steps(p)} on {p.get('images', '?')} images in {fmt(to_float(p.get('seconds')), '.4g')} s"
                     " of training." for p in parents)
    return _fill("proxy", modes=modes or "none complete", eval_s=eval_s, parents=shared)


def _steps(parent: dict[str, Any]) -> str:
    return f" ({parent['steps']} steps)" if isinstance(parent.get("steps"), int) else ""


def _json(data: Any) -> _Html:
    """JSON for a <script> block that cannot close it early (<, >, & are \\u-escaped; still valid JSON)."""
    text = json.dumps(data, allow_nan=False)
    return _Html(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _pareto_data(info: _ParetoInfo) -> list[dict[str, Any]]:
    return [{"number": p.number, "cost": p.cost, "px_error": p.px_error, "score": plain(p.score),
             "baseline": p.baseline} for p in info.front]


def _trials_table(df: pd.DataFrame) -> _Html:
    blank_na = {col: (lambda v: "" if pd.isna(v) else str(v)) for col in INT_COLUMNS}  # na_rep skips Int64's NA
    return _Html(df.to_html(index=False, na_rep="", border=0, float_format=lambda v: f"{v:.6g}", formatters=blank_na))


def _render_page(name: str, objective: str, df: pd.DataFrame, importance: _ImportanceInfo,
                 fidelity: _FidelityInfo | None, parents: list[dict[str, Any]] | None = None) -> str:
    pareto = _get_pareto_info(df)
    facts = summary(df)
    divs = _figure_divs(_figures(df, pareto, importance, fidelity))
    page = _fill(
        "page", name=name, **_summary_values(facts, objective, df), **{f"fig_{k}": divs[k] for k in _ALWAYS_SHOWN},
        importance=_importance_html(importance, divs.get("importance")),
        fidelity=_fidelity_html(fidelity, divs.get("fidelity"), name), noise=_noise_html(df),
        proxy=_proxy_html(df, parents or []),
        trials_table=_trials_table(df), pareto_json=_json(_pareto_data(pareto)), summary_json=_json(facts),
    )
    return page + "\n"


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
    df = frame_of(trials)
    if scored(df).empty:
        raise StudyError(f"study '{study.study_name}' has no complete trial to report")
    page = _render_page(study.study_name, str(study.user_attrs.get("objective", "")), df,
                        _get_importance_info(trials, study.directions),
                        _get_fidelity_info(study.user_attrs.get("fidelity")),
                        [v for k, v in study.user_attrs.items() if k.startswith("supernet:") and isinstance(v, dict)])
    write_text_atomic(csv_path, df.to_csv(index=False))
    write_text_atomic(html_path, page)
    return html_path, csv_path
