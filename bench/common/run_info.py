"""What every benchmark line carries about its run: date, machine, commit and the command."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["run_info", "commit"]

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The short commit of the checkout, marked `+uncommitted` when the working tree's code differs from it
    (results files under docs/results/ do not count: a run appends to them, and a later run of the same
    code may start from a tree holding an earlier run's lines)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    if os.environ.get("HANDKP_COMMIT"):  # a copy made elsewhere (a lent GPU machine): the commit it was made from
        return os.environ["HANDKP_COMMIT"]
    try:
        head = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
        changed = git("diff", "--quiet", "HEAD", "--", ".", ":(exclude)docs/results").returncode
        return head + ("+uncommitted" if changed else "")
    except OSError:
        return "unknown"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_info(script: str) -> dict[str, object]:
    """One run's context (one date for every line it writes): `script` is the path from the repository root."""
    import torch

    machine = {"platform": platform.platform(), "cores": _cores(), "torch": torch.__version__,
               "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
            "commit": commit(), "command": " ".join(["python", script, *sys.argv[1:]])}
