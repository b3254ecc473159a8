"""bench/gpu_evidence.py end to end at its tiny size on the CPU (the code path of the 224 px GPU run):
the study through the CLI, the retrains with one recipe and several seeds, the fidelity figure, and
lines a skip audit can replay."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from gpu_evidence import SIZES, pick_goal, run_bounded
from skip_audit import recorded_studies

from nas.model.arch import ArchConfig
from tests.conftest import ROOT


def test_the_tiny_run_writes_every_figure(tmp_path, cli_env):
    out = tmp_path / "lines.jsonl"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_evidence.py"), "--size", "tiny", "--device", "cpu",
                        "--out", str(out), "--work", str(tmp_path / "work")], env=cli_env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    figures = [x["figure"] for x in lines]
    trials = [x for x in lines if x["figure"] == "trial"]
    cfg = SIZES["tiny"]
    assert len(trials) >= cfg.trials and {x["baseline"] for x in trials} >= {"space_cheapest"}
    assert all(x["cost"] > 0 and x["device"] == "cpu" and x["size_px"] == 64 for x in trials)
    retrains = [x for x in lines if x["figure"] == "retrain"]
    roles = {x["role"] for x in lines if x["figure"] == "trivial"}
    assert roles == {"pick", "cheapest", "course_report", "random1"}
    assert len(retrains) == cfg.seeds * len({x["arch"] for x in lines if x["figure"] == "trivial"})
    assert figures.index("study") < figures.index("retrain") < figures.index("trivial_goal") < figures.index("fidelity")
    fidelity = next(x for x in lines if x["figure"] == "fidelity")
    assert fidelity["n"] == len({x["arch"] for x in retrains}) and "cost_only_kendall_tau_error" in fidelity
    assert all(x["commit"] and x["command"].startswith("python bench/gpu_evidence.py") for x in lines)
    # the skip audit reads the study back: one recorded study of its complete, distinct trials
    (study,) = recorded_studies([out]).values()
    assert 0 < len(study[0]) <= len(trials)


def test_the_goal_is_missed_by_a_tie_and_met_only_below_every_other_role():
    cheap = ArchConfig("mobilenetv3_small", 0.25, 1, 0.125)
    other = ArchConfig("mobilenetv2", 1.0, 2, 2.0)
    roles = {"pick": cheap, "cheapest": cheap, "course_report": other}
    tie = pick_goal({"pick": 5.0, "cheapest": 5.0, "course_report": 9.0}, roles)
    assert not tie["met"] and tie["not_beaten"] == ["cheapest"] and tie["pick_is"] == ["cheapest"]
    roles["pick"] = ArchConfig("mobilenetv3_small", 0.5, 1, 0.25)
    won = pick_goal({"pick": 4.0, "cheapest": 5.0, "course_report": 9.0}, roles)
    assert won["met"] and won["beaten"] == ["cheapest", "course_report"]


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
    returncode, stopped = run_bounded(_study_like(tmp_path / "a.pid"), 2)
    assert stopped == 2 and returncode != 0 and _gone(tmp_path / "a.pid")
    assert run_bounded([sys.executable, "-c", "pass"], 5) == (0, None)


def test_a_script_stopped_from_outside_stops_its_study(tmp_path, cli_env):
    """The step's own time limit (SIGTERM to the script) must not leave the study training on."""
    pid_file = tmp_path / "b.pid"
    code = f"from gpu_evidence import run_bounded; run_bounded({_study_like(pid_file)!r}, 60)"
    script = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT / "bench", env=cli_env)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    script.terminate()
    assert script.wait(timeout=20) == 143 and _gone(pid_file)
