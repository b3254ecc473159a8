"""A command run for at most so many seconds together with the processes it starts (a study and its
workers), so a bounded benchmark step keeps the time to write what finished. Standard library only:
cheap to import in a test's subprocess."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["run_bounded"]


def run_bounded(cmd: list[str], stop_s: float, cwd: Path | None = None) -> tuple[int, float | None]:
    """Run `cmd` (and the worker processes it starts, in a process group of their own) for at most
    `stop_s` seconds: its return code, and `stop_s` when it had to be stopped, else None. A study's
    storage keeps every trial finished before the stop. Stopped from outside (SIGTERM: the device
    check's step limit; Ctrl-C), the calling process stops the group before it exits."""
    proc = subprocess.Popen(cmd, cwd=cwd, start_new_session=True)

    def on_term(*_: Any) -> None:
        raise SystemExit(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return proc.wait(timeout=stop_s), None
    except subprocess.TimeoutExpired:
        return _stop_group(proc), stop_s
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> int:
    """SIGTERM to `proc`'s process group, SIGKILL to what is left of it 5 s later; its return code."""
    os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # workers that outlived the CLI
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()
