"""Ranking by score: the summary (best trial, baselines, counts), the leaderboard and the best-so-far curve."""
from __future__ import annotations

from typing import Any

import pandas as pd

from nas.report.frame import plain, scored

__all__ = ["LEADERBOARD_COLUMNS", "best_so_far", "leaderboard", "summary"]

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
    }


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Best trial, each baseline's score with best/baseline ratio (< 1: the search beat it), trial counts.

    A baseline run more than once (e.g. retried) is represented by its best complete trial.
    """
    done = scored(df)
    if done.empty:
        return {"best": None, "baselines": [], "counts": _counts(df)}
    top = done.loc[done["score"].idxmin()]  # first (lowest number) on ties: done is in number order
    best = {k: plain(top[k]) for k in _BEST_FIELDS}
    baselines = []
    for name, rows in done[done["baseline"] != ""].groupby("baseline", sort=True):
        b = rows.loc[rows["score"].idxmin()]
        baselines.append(
            {"baseline": str(name), "number": int(b["number"]), "score": float(b["score"]),
             "ratio": best["score"] / float(b["score"]) if b["score"] > 0 else None}
        )
    return {"best": best, "baselines": baselines, "counts": _counts(df)}


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
