"""Proxy noise: how much of the spread in proxy errors is seed noise, not architecture.

Pure arithmetic on plain numbers, so a study report and a benchmark script use it alike. Each group
holds the proxy errors of one architecture trained several times with different seeds; the spread
within groups (seed noise) is set against the spread across the distinct architectures (signal).
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["NOISE_SNR_FLOOR", "NoiseSummary", "noise_verdict", "proxy_noise"]

NOISE_SNR_FLOOR = 2.0  # below: the seed noise is over half the spread across architectures


@dataclass(frozen=True)
class NoiseSummary:
    within: float  # pooled seed-noise std: sqrt of the mean per-group sample variance
    across: float  # sample std of the distinct architectures' errors (NaN with fewer than 2)
    snr: float  # across / within (inf with no seed noise, NaN when there is nothing to compare)
    groups: int  # architectures measured more than once
    repeats: int  # values in those groups, in total
    ranges: Mapping[str, float]  # per group: max - min of its values


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if math.isfinite(v)]


def _ratio(across: float, within: float) -> float:
    if math.isnan(across) or (within == 0 and across == 0):
        return math.nan
    return math.inf if within == 0 else across / within


def proxy_noise(groups: Mapping[str, Sequence[float]], all_errors: Sequence[float]) -> NoiseSummary | None:
    """The noise summary of `groups` (name -> one architecture's errors over seeds) against
    `all_errors` (one error per distinct architecture); None when no group has 2 values.

    Non-finite values (a failed run) are left out; groups with fewer than 2 values are ignored.
    """
    used = {name: vals for name, raw in groups.items() if len(vals := _finite(raw)) >= 2}
    if not used:
        return None
    within = math.sqrt(statistics.fmean(statistics.variance(v) for v in used.values()))
    errors = _finite(all_errors)
    across = statistics.stdev(errors) if len(errors) >= 2 else math.nan
    return NoiseSummary(within=within, across=across, snr=_ratio(across, within), groups=len(used),
                        repeats=sum(len(v) for v in used.values()),
                        ranges={name: max(v) - min(v) for name, v in used.items()})


def noise_verdict(snr: float) -> str:
    """One plain line on whether the proxy can tell candidates apart at this signal-to-noise ratio."""
    if math.isnan(snr):
        return "too few distinct architectures yet to compare the seed noise with"
    if math.isinf(snr):
        return "no seed noise measured: the repeated trainings gave identical errors"
    if snr < NOISE_SNR_FLOOR:
        times = "over 100x" if snr < 0.01 else f"~{1 / snr:.2g}x"
        return f"the proxy cannot reliably tell candidates apart: seed noise is {times} the spread across architectures"
    return f"the proxy separates candidates: the spread across architectures is {snr:.2g}x the seed noise"
