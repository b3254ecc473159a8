"""bench/common/bounded.py: a command and the worker processes it starts stopped at the limit, and
when the process that runs it is itself stopped (the device check's step limit)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from common.bounded import run_bounded

from tests.conftest import ROOT


def _study_like(pid_file) -> list[str]:
    """A command that starts a worker process (which writes its pid to `pid_file`) and waits a minute."""
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    return [sys.executable, "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"]


def _gone(pid_file) -> bool:
    """Whether the process whose pid `pid_file` holds has ended within 5 s (waiting for it to write it)."""
    for _ in range(50):
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (FileNotFoundError, ValueError):
            pass
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_study_past_its_hard_limit_is_stopped_with_the_processes_it_started(tmp_path):
    """The device check bounds each step; a study still running at its limit must leave the step time
    to write its finished trials, so the command and its worker processes are stopped."""
    returncode, stopped = run_bounded(_study_like(tmp_path / "a.pid"), 1)
    assert stopped == 1 and returncode != 0 and _gone(tmp_path / "a.pid")
    assert run_bounded([sys.executable, "-c", "pass"], 5) == (0, None)


def test_a_script_stopped_from_outside_stops_its_study(tmp_path, cli_env):
    """The step's own time limit (SIGTERM to the script) must not leave the study training on."""
    pid_file = tmp_path / "b.pid"
    code = f"from common.bounded import run_bounded; run_bounded({_study_like(pid_file)!r}, 60)"
    script = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT / "bench", env=cli_env)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    script.terminate()
    assert script.wait(timeout=20) == 143 and _gone(pid_file)
