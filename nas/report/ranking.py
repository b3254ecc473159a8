"""Ranking by score: the summary (best trial, baselines, counts), the leaderboard and the best-so-far curve."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from nas.report.frame import plain, scored

__all__ = ["LEADERBOARD_COLUMNS", "best_so_far", "blind_line", "blind_proxy", "leaderboard", "summary"]

LEADERBOARD_COLUMNS = (
    "rank", "trial", "baseline", "backbone", "backbone_width", "head_width", "head_depth", "aug_multiplier",
    "gflops", "mparams", "px_error", "score", "worker",
)
_BEST_FIELDS = (
    "number", "baseline", "backbone", "backbone_width", "head_depth", "head_width", "input_size",
    "aug_multiplier", "gflops", "mparams", "px_error", "score",
)


def _counts(df: pd.DataFrame) -> dict[str, int]:
    state = df["state"]
    return {
        "trials": len(df),
        "complete": int((state == "COMPLETE").sum()),
        "pruned": int((state == "PRUNED").sum()),
        "skipped": int(((state == "PRUNED") & df["skipped"]).sum()),
        "failed": int((state == "FAIL").sum()),
        "running": int(state.isin(["RUNNING", "WAITING"]).sum()),
        "retried": int(df["retried_from"].notna().sum()),
        "duplicates": int(df["duplicate_of"].notna().sum()),
    }


_ARCH_FIELDS = ("backbone", "backbone_width", "head_depth", "head_width", "input_size")


def runner_up(done: pd.DataFrame, top: pd.Series) -> dict[str, Any] | None:
    """The best complete trial of another architecture than `top`'s, and its margin in pixels: ln(its
    score / the best's), the error it would have had to end lower by to tie (the score's exp(px)
    makes a pixel of error worth a factor e of cost). None when every trial has the best's architecture."""
    fields = list(_ARCH_FIELDS)
    other = done[(done[fields] != top[fields]).any(axis=1)]
    if other.empty:
        return None
    r = other.loc[other["score"].idxmin()]
    margin = math.log(r["score"] / top["score"]) if top["score"] > 0 and r["score"] > 0 else None
    return {"number": int(r["number"]), "score": float(r["score"]), "margin_px": margin}


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Best trial, its runner-up (`runner_up`), each baseline's score with best/baseline ratio (< 1:
    the search beat it), trial counts.

    A baseline run more than once (e.g. retried) is represented by its best complete trial.
    """
    done = scored(df)
    if done.empty:
        return {"best": None, "runner_up": None, "baselines": [], "counts": _counts(df), "blind": None}
    top = done.loc[done["score"].idxmin()]  # first (lowest number) on ties: done is in number order
    best = {k: plain(top[k]) for k in _BEST_FIELDS}
    baselines = []
    for name, rows in done[done["baseline"] != ""].groupby("baseline", sort=True):
        b = rows.loc[rows["score"].idxmin()]
        baselines.append(
            {"baseline": str(name), "number": int(b["number"]), "score": float(b["score"]),
             "ratio": best["score"] / float(b["score"]) if b["score"] > 0 else None}
        )
    return {"best": best, "runner_up": runner_up(done, top), "baselines": baselines, "counts": _counts(df),
            "blind": blind_proxy(done)}


def blind_proxy(done: pd.DataFrame) -> dict[str, float] | None:
    """When every complete trial's error is above the error of predicting the mean pose (recorded on
    the trials), the proxy told the candidates nothing and the ranking is by cost alone: the lowest
    error and the mean pose's. None otherwise, or when the trials do not record the mean pose."""
    mean_pose = done["mean_pose_px"].dropna()
    if done.empty or mean_pose.empty:
        return None
    lowest, pose = float(done["px_error"].min()), float(mean_pose.min())
    return {"lowest_px": lowest, "mean_pose_px": pose} if lowest > pose else None


def blind_line(blind: dict[str, float] | None) -> str | None:
    """The one line a user reads when the proxy is blind (`blind_proxy`)."""
    if blind is None:
        return None
    return (f"the proxy is blind here: every complete trial's error (lowest {blind['lowest_px']:.2f} px) is above "
            f"the mean pose's {blind['mean_pose_px']:.2f} px, so the ranking is by cost alone")


def leaderboard(df: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Complete trials with a score, best first (ties by trial number), ranked from 1."""
    done = scored(df).sort_values(["score", "number"], kind="stable")
    if top is not None:
        done = done.head(top)
    out = done.rename(columns={"number": "trial"}).reset_index(drop=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    return out[list(LEADERBOARD_COLUMNS)]


def best_so_far(df: pd.DataFrame) -> pd.DataFrame:
    """Columns number, score, best: the running minimum of the score over complete trials by number."""
    out = scored(df)[["number", "score"]].reset_index(drop=True)
    out["best"] = out["score"].cummin()
    return out
