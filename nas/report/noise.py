"""A study's proxy noise, read from its trials frame: each repeated baseline's errors over seeds
against the spread of the study's distinct architectures (`nas.search.noise` does the arithmetic)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from nas.report.frame import scored
from nas.search.noise import NoiseSummary, proxy_noise

__all__ = ["repeat_groups", "study_noise"]


def repeat_groups(df: pd.DataFrame) -> dict[str, list[float]]:
    """Baseline name -> the px errors of its complete trials, the baseline's own and its repeats, in
    trial order; only baselines the study repeated (`study --repeats`)."""
    done = df[(df["state"] == "COMPLETE") & np.isfinite(df["px_error"].to_numpy(dtype=float))]
    repeated = sorted(set(done.loc[done["repeat"] > 0, "baseline"]) - {""})
    return {name: done[done["baseline"] == name].sort_values("number")["px_error"].astype(float).tolist()
            for name in repeated}


def study_noise(df: pd.DataFrame) -> NoiseSummary | None:
    """The proxy noise of the study (None without a complete repeat beside its baseline): the repeated
    baselines' spread against that of the ranked trials' errors, one per distinct architecture."""
    return proxy_noise(repeat_groups(df), scored(df)["px_error"].astype(float).tolist())
