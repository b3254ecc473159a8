"""The trials frame: one row per trial, the single table every part of the report reads.

Only trial *user attributes* are read, never trial values, so a "score" study and a three-objective
"pareto" study report the same way, and any worker's trials show up.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial

__all__ = ["COLUMNS", "INT_COLUMNS", "arch_label", "fmt", "frame_of", "plain", "scored", "to_float", "trials_frame",
           "worker_label"]

COLUMNS = (
    "number", "state", "baseline", "repeat",
    "backbone", "backbone_width", "head_depth", "head_width", "aug_multiplier", "input_size",
    "gflops", "mparams", "true_gmacs", "cost", "px_error", "pck", "auc", "score",
    "train_seconds", "images_per_s", "mean_pose_px", "worker", "proxy",
    "skipped", "reason", "retried_from", "duplicate_of", "datetime_start", "duration_s",
)
_FLOAT_ATTRS = (
    "gflops", "mparams", "true_gmacs", "cost", "px_error", "pck", "auc", "score", "train_seconds", "images_per_s",
    "mean_pose_px",
)
INT_COLUMNS = ("head_depth", "aug_multiplier", "input_size", "retried_from", "duplicate_of")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (every state) built from user attributes; missing values are NaN/NA/""."""
    return frame_of(study.get_trials(deepcopy=False))


def frame_of(trials: Iterable[FrozenTrial]) -> pd.DataFrame:
    """The trials frame of trials already read (the report reads the storage once)."""
    df = pd.DataFrame([_row(t) for t in trials], columns=list(COLUMNS))
    for col in INT_COLUMNS:  # nullable ints: the CSV shows "2", not "2.0", and blanks for missing
        df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in _FLOAT_ATTRS + ("backbone_width", "head_width", "duration_s"):
        df[col] = df[col].astype(float)
    df["number"] = df["number"].astype(int)
    df["repeat"] = df["repeat"].astype(int)
    df["skipped"] = df["skipped"].astype(bool)
    df["datetime_start"] = pd.to_datetime(df["datetime_start"])
    return df.sort_values("number", kind="stable").reset_index(drop=True)


def to_float(value: Any) -> float:
    """A float, or NaN for anything absent or not numeric (a half-written trial must not break the report)."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def worker_label(attrs: dict[str, Any]) -> str:
    """The worker that ran a trial, short: `host:pid x threads` (host up to its first dot), with
    `>N` when its share of the cores changed during the trial to N; "" for trials from before workers
    were recorded."""
    if not attrs.get("worker_host"):
        return ""
    host = str(attrs["worker_host"]).split(".")[0]
    label = f"{host}:{attrs.get('worker_pid', '?')} x{attrs.get('worker_threads', '?')}"
    end = attrs.get("worker_threads_end")
    return label if end is None or end == attrs.get("worker_threads") else f"{label}>{end}"


def _repeat(value: Any) -> int:
    """A baseline's repeat number (0: not a repeat; anything unreadable counts as 1, a repeat)."""
    number = to_float(value)
    if value is None or number == 0:
        return 0
    return int(number) if math.isfinite(number) and number > 0 else 1


def _row(t: FrozenTrial) -> dict[str, Any]:
    ua = t.user_attrs
    arch = ua.get("arch") if isinstance(ua.get("arch"), dict) else {}
    recipe = ua.get("recipe") if isinstance(ua.get("recipe"), dict) else {}
    row: dict[str, Any] = {
        "number": t.number,
        "state": t.state.name,
        "baseline": str(ua.get("baseline") or ""),
        "repeat": _repeat(ua.get("repeat")),
        "proxy": str(ua.get("proxy_mode") or ("scratch" if "score" in ua else "")),
        # arch/recipe first: baselines and retries may carry them without sampled params
        "backbone": str(arch.get("backbone", t.params.get("backbone", "")) or ""),
        "backbone_width": to_float(arch.get("backbone_width", t.params.get("backbone_width"))),
        "head_depth": to_float(arch.get("head_depth", t.params.get("head_depth"))),
        "head_width": to_float(arch.get("head_width", t.params.get("head_width"))),
        "aug_multiplier": to_float(recipe.get("aug_multiplier", t.params.get("aug_multiplier"))),
        "input_size": to_float(arch.get("input_size")),
    }
    row.update({k: to_float(ua.get(k)) for k in _FLOAT_ATTRS})
    if math.isnan(row["cost"]):
        row["cost"] = row["gflops"] * row["mparams"]  # stays NaN when either is missing
    retried = ua.get("retried_from", t.system_attrs.get("failed_trial"))
    row.update(
        worker=worker_label(ua),
        skipped=bool(ua.get("skipped", False)),
        reason=str(ua.get("reason") or ""),
        retried_from=to_float(retried),
        duplicate_of=to_float(ua.get("duplicate_of")),
        datetime_start=t.datetime_start,
        duration_s=t.duration.total_seconds() if t.duration is not None else math.nan,
    )
    return row


def scored(df: pd.DataFrame) -> pd.DataFrame:
    """COMPLETE trials with a finite score, in trial-number order: the only ones that can be ranked.

    Repeats (a baseline trained again with another seed, to measure the proxy's noise) and duplicates
    (a draw of an architecture and recipe already evaluated, given that trial's result) are left out:
    they are no candidates of their own.
    """
    ok = (df["state"] == "COMPLETE") & np.isfinite(df["score"].to_numpy(dtype=float)) & (df["repeat"] == 0) \
        & df["duplicate_of"].isna()
    return df[ok].sort_values("number", kind="stable")


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


def fmt(value: Any, spec: str = "") -> str:
    """`format(value, spec)`, or "" for a missing value."""
    return "" if plain(value) is None else format(value, spec)


def arch_label(r: Any) -> str:
    """One-line architecture label in ArchConfig.short()'s style, tolerant of missing fields."""
    label = f"{r.backbone or '?'} x{fmt(r.backbone_width, '.2f') or '?'} | head {fmt(r.head_depth) or '?'}x" + (
        fmt(r.head_width, ".2f") or "?"
    )
    if plain(r.input_size) is not None:
        label += f" | {r.input_size}px"
    if plain(r.aug_multiplier) is not None:
        label += f" | aug x{r.aug_multiplier}"
    return label
