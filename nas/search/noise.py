"""Proxy noise: how much of the spread in proxy errors is seed noise, not architecture.

Pure arithmetic on plain numbers, so a study report and a benchmark script use it alike. Each group
holds the proxy errors of one architecture trained several times with different seeds. The verdict
comes from a one-way random-effects variance decomposition of those groups: the intraclass
correlation ICC(1), the share of the errors' variance that lies between architectures rather than
between seeds of one architecture. Pure seed noise gives an ICC near 0, errors fixed by the
architecture an ICC near 1. With a few architectures and seeds the ICC itself is uncertain (one
benchmark's verdict on the point estimate flipped between two runs: docs/design.md), so the verdict
reads its 95% interval (`icc1_interval`, Shrout and Fleiss's F-based interval): the proxy separates
candidates when the whole interval lies at or above NOISE_ICC_FLOOR, cannot tell them apart when it
lies below, and the question is not settled by the repeats at hand when it spans the floor.

The older figure `snr` (the std of the distinct architectures' errors over the pooled seed std) is
kept for lines written before the ICC: its "across" spread holds the seed noise too, so pure noise
gives an SNR near 1, not 0, and it decides nothing any more.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["NOISE_ICC_FLOOR", "NOISE_SNR_FLOOR", "NoiseSummary", "icc1", "icc1_interval", "icc_verdict",
           "noise_verdict", "proxy_noise"]

# The ICC at and above which the proxy "separates candidates": at least half of the variance of an
# error (one training of one architecture) is the architecture's, at most half the seed's.
NOISE_ICC_FLOOR = 0.5
NOISE_SNR_FLOOR = 2.0  # the old rule on `snr` (kept for reading old lines; decides nothing)


@dataclass(frozen=True)
class NoiseSummary:
    within: float  # pooled seed-noise std: sqrt of the mean per-group sample variance
    across: float  # sample std of the distinct architectures' errors (NaN with fewer than 2); holds seed noise too
    snr: float  # across / within (inf with no seed noise, NaN when there is nothing to compare); legacy
    groups: int  # architectures measured more than once
    repeats: int  # values in those groups, in total
    ranges: Mapping[str, float]  # per group: max - min of its values
    icc: float = math.nan  # ICC(1) of the groups (icc1); NaN with fewer than 2 groups or no variance at all
    icc_ci: tuple[float, float] | None = None  # its 95% interval (icc1_interval); None where the ICC is NaN


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if math.isfinite(v)]


def _ratio(across: float, within: float) -> float:
    if math.isnan(across) or (within == 0 and across == 0):
        return math.nan
    return math.inf if within == 0 else across / within


def _mean_squares(groups: Sequence[Sequence[float]]) -> tuple[float, float, float, int, int] | None:
    """MSB, MSW, k0, the number of groups a and of values N; None with fewer than 2 groups or no
    group of 2 values."""
    groups = [list(g) for g in groups if len(g)]
    a, n = len(groups), sum(len(g) for g in groups)
    if a < 2 or n - a < 1:
        return None
    grand = sum(map(sum, groups)) / n
    means = [statistics.fmean(g) for g in groups]
    msb = sum(len(g) * (m - grand) ** 2 for g, m in zip(groups, means)) / (a - 1)
    msw = sum((x - m) ** 2 for g, m in zip(groups, means) for x in g) / (n - a)
    k0 = (n - sum(len(g) ** 2 for g in groups) / n) / (a - 1)
    return msb, msw, k0, a, n


def icc1(groups: Sequence[Sequence[float]]) -> float:
    """One-way random-effects intraclass correlation ICC(1) of `groups` (one architecture's errors
    over seeds each), for unequal group sizes:

        ICC = (MSB - MSW) / (MSB + (k0 - 1) MSW),   k0 = (N - sum(n_i^2) / N) / (a - 1)

    with a groups of n_i values (N in all), MSB the between-group and MSW the within-group mean
    square. The share of one value's variance that is the group's: near 0 when the groups differ only
    by noise, 1 when the values within each group agree. It can fall below 0 (groups closer together
    than their noise predicts): read that as 0. NaN when it cannot be computed: fewer than 2 groups,
    no group with 2 values (no within-group variance to estimate), or no variance at all.
    """
    ms = _mean_squares(groups)
    if ms is None:
        return math.nan
    msb, msw, k0, _, _ = ms
    denominator = msb + (k0 - 1) * msw
    return math.nan if denominator <= 0 else (msb - msw) / denominator


def icc1_interval(groups: Sequence[Sequence[float]], level: float = 0.95) -> tuple[float, float] | None:
    """The `level` confidence interval of ICC(1) from the F ratio F0 = MSB / MSW (Shrout and Fleiss
    1979), with FL = F0 / F(1 - alpha/2; a - 1, N - a) and FU = F0 * F(1 - alpha/2; N - a, a - 1):

        [(FL - 1) / (FL + k0 - 1), (FU - 1) / (FU + k0 - 1)]

    exact for equal group sizes, an approximation otherwise (k0 in place of the group size). None
    where icc1 is NaN or there is no seed noise (MSW 0: the ICC is 1 with nothing to be unsure of)."""
    ms = _mean_squares(groups)
    if ms is None or ms[1] == 0:  # with seed noise (MSW > 0) and k0 >= 1 the ICC is defined
        return None
    from scipy.stats import f  # scipy costs its import only where an interval is asked for

    msb, msw, k0, a, n = ms
    q = (1 + level) / 2
    fl, fu = (msb / msw) / f.ppf(q, a - 1, n - a), (msb / msw) * f.ppf(q, n - a, a - 1)
    return float((fl - 1) / (fl + k0 - 1)), float((fu - 1) / (fu + k0 - 1))


def proxy_noise(groups: Mapping[str, Sequence[float]], all_errors: Sequence[float]) -> NoiseSummary | None:
    """The noise summary of `groups` (name -> one architecture's errors over seeds) against
    `all_errors` (one error per distinct architecture); None when no group has 2 values.

    Non-finite values (a failed run) are left out; groups with fewer than 2 values are ignored (the
    ICC too is computed from the groups of 2 or more values only).
    """
    used = {name: vals for name, raw in groups.items() if len(vals := _finite(raw)) >= 2}
    if not used:
        return None
    within = math.sqrt(statistics.fmean(statistics.variance(v) for v in used.values()))
    errors = _finite(all_errors)
    across = statistics.stdev(errors) if len(errors) >= 2 else math.nan
    return NoiseSummary(within=within, across=across, snr=_ratio(across, within), groups=len(used),
                        repeats=sum(len(v) for v in used.values()),
                        ranges={name: max(v) - min(v) for name, v in used.items()}, icc=icc1(list(used.values())),
                        icc_ci=icc1_interval(list(used.values())))


def icc_verdict(icc: float, ci: tuple[float, float] | None) -> str:
    """`separates`, `cannot tell apart` or `not settled`: where the ICC's interval lies against
    NOISE_ICC_FLOOR (the point estimate alone where there is no interval)."""
    low, high = ci if ci is not None else (icc, icc)
    if low >= NOISE_ICC_FLOOR:
        return "separates"
    return "cannot tell apart" if high < NOISE_ICC_FLOOR else "not settled"


def noise_verdict(noise: NoiseSummary) -> str:
    """One plain line on whether the proxy can tell candidates apart, decided by where the ICC's 95%
    interval lies against NOISE_ICC_FLOOR."""
    if noise.within == 0:
        return "no seed noise measured: the repeated trainings gave identical errors"
    if math.isnan(noise.icc):
        return ("too few architectures measured with several seeds to split the variance (the intraclass "
                "correlation needs 2; n/a)")
    ci = f", 95% interval [{noise.icc_ci[0]:.2f}, {noise.icc_ci[1]:.2f}]" if noise.icc_ci else ""
    share = (f"{max(noise.icc, 0.0):.0%} of the error variance is architecture, the rest seed noise "
             f"(ICC {noise.icc:.2f}{ci}")
    verdict = icc_verdict(noise.icc, noise.icc_ci)
    if verdict == "separates":
        return f"the proxy separates candidates: {share}, all >= {NOISE_ICC_FLOOR})"
    if verdict == "cannot tell apart":
        return f"the proxy cannot reliably tell candidates apart: only {share}, all < {NOISE_ICC_FLOOR})"
    return (f"not settled by {noise.groups} repeated architectures ({noise.repeats} trainings): {share}, which "
            f"spans {NOISE_ICC_FLOOR}); more repeated architectures or seeds narrow it")
