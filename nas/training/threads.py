"""How many CPU threads a training process computes with (torch's intra-op threads).

Torch gives every process all the cores. Two processes training on one machine then fight over the
same cores and both collapse (docs/results/workers-threads.jsonl). So the count is chosen, in this order:

1. `--threads N` on the command line;
2. the environment variable `HANDKP_THREADS`;
3. `OMP_NUM_THREADS`, when it is set (the usual way to cap a process on a shared machine);
4. the default: every core this process may use (a study's workers divide them, `nas.search.workers.share`).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from nas.errors import ConfigError

__all__ = ["ENV_VAR", "DEFAULT_SOURCE", "ThreadChoice", "available_cores", "fixed_threads", "choose_threads",
           "set_threads"]

ENV_VAR = "HANDKP_THREADS"
DEFAULT_SOURCE = "cores"  # ThreadChoice.source when nothing fixed the count


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and what chose it: `--threads`, `HANDKP_THREADS`, `OMP_NUM_THREADS` or `cores`."""

    threads: int
    source: str = DEFAULT_SOURCE

    @property
    def fixed(self) -> bool:
        """Whether the user fixed the count (a fixed count is never re-shared)."""
        return self.source != DEFAULT_SOURCE


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _parse_env(name: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name}={text!r}: expected a whole number of threads >= 1")
    return value


def _omp_threads(text: str) -> int | None:
    """OMP_NUM_THREADS's outer level ("4" or OpenMP's nested "4,2"); None when it is not a count."""
    try:
        value = int(text.split(",")[0].strip())
    except ValueError:
        return None
    return value if value >= 1 else None


def fixed_threads(option: int | None = None, env: Mapping[str, str] | None = None) -> ThreadChoice | None:
    """The count the user fixed (option, then HANDKP_THREADS, then OMP_NUM_THREADS), or None.
    A malformed HANDKP_THREADS is a ConfigError; a malformed OMP_NUM_THREADS is ignored (it is
    OpenMP's variable, and other programs read it too)."""
    env = os.environ if env is None else env
    if option is not None:
        if option < 1:
            raise ConfigError(f"--threads {option}: expected a whole number of threads >= 1")
        return ThreadChoice(option, "--threads")
    if env.get(ENV_VAR, "").strip():
        return ThreadChoice(_parse_env(ENV_VAR, env[ENV_VAR]), ENV_VAR)
    omp = _omp_threads(env.get("OMP_NUM_THREADS", ""))
    return ThreadChoice(omp, "OMP_NUM_THREADS") if omp else None


def choose_threads(option: int | None = None, env: Mapping[str, str] | None = None) -> ThreadChoice:
    """The threads of a run that trains alone (`train`, `retrain`, `fidelity`): fixed, or every core."""
    return fixed_threads(option, env) or ThreadChoice(available_cores())


def set_threads(threads: int) -> bool:
    """Set torch's intra-op threads when they differ; returns whether they changed."""
    import torch

    if torch.get_num_threads() == threads:
        return False
    torch.set_num_threads(threads)
    return True
