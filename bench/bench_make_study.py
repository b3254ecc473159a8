"""`make study` measured: the study command the Makefile runs, timed from a cold data cache in a
scratch folder (storage, report and cache there, so nothing under reports/ is reused or touched),
then read back from its storage: trial states, the baselines' and the best trial's proxy errors and
scores, and the shared parents' training time when the proxy is a supernet. The set-up `make`
does first (the virtual environment) is not timed.

    .venv/bin/python bench/bench_make_study.py --save   # one line to docs/results/make-study.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common.run_info import run_info

from nas.report import ranking
from nas.report.frame import arch_label, scored, trials_frame
from nas.search.proxy.supernet import ATTR_PREFIX as SUPERNET_ATTR

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "make-study.jsonl"
ARCH_COLUMNS = ("backbone", "backbone_width", "head_depth", "head_width")
TITLE = "make study on a fresh clone"


def makefile_study() -> list[str]:
    """The arguments after `handkp-search` of the Makefile's `study` recipe."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^study:.*\n\t\$\(VENV\)/bin/handkp-search (.+)$", text, re.MULTILINE)
    if not match:
        raise SystemExit("Makefile: no `study:` recipe running $(VENV)/bin/handkp-search")
    return shlex.split(match.group(1))


def run(args: list[str], folder: Path, name: str = "make-study", cache: Path | None = None) -> float:
    """The study `name` in `folder` (its storage, report and, by default, data cache), its output passed
    through; wall seconds."""
    cli = Path(sys.executable).with_name("handkp-search")
    extra = ["--storage", f"sqlite:///{folder / 'study.db'}", "--study-name", name,
             "--cache-dir", str(cache or folder / "cache"), "--report", str(folder / "report.html")]
    t0 = time.perf_counter()
    subprocess.run([str(cli), *args, *extra], cwd=ROOT, check=True)
    return time.perf_counter() - t0


def _trial(r) -> dict:
    return {"trial": int(r["number"]), "arch": arch_label(pd.Series(r)), "gflops": round(r["gflops"], 4),
            "mparams": round(r["mparams"], 3), "px_error": round(r["px_error"], 2), "score": float(f"{r['score']:.4g}")}


def summary(folder: Path, name: str = "make-study") -> dict:
    """What the study `name` in `folder` did and picked, from its storage: the report's summary
    (`nas.report.ranking.summary`) plus what a supernet study adds."""
    import optuna

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}")
    df = trials_frame(study)
    s, done = ranking.summary(df), scored(df)
    parents = {v["backbone"]: v for k, v in study.user_attrs.items() if k.startswith(SUPERNET_ATTR)}
    evaluated = df[(df["state"] == "COMPLETE") & (df["repeat"] == 0)]
    baselines, counts = {b["baseline"]: b for b in s["baselines"]}, s["counts"]
    by_number = df.set_index("number")
    return {
        "proxy": sorted(set(df["proxy"]) - {""}),
        "states": {"complete": counts["complete"], "pruned": counts["pruned"] - counts["skipped"],
                   "skipped_before_training": counts["skipped"], "failed": counts["failed"]},
        "distinct_archs_complete": len(evaluated.drop_duplicates(list(ARCH_COLUMNS))),
        "baseline_px": {n: round(float(by_number.at[b["number"], "px_error"]), 2) for n, b in baselines.items()},
        "best": _trial(s["best"]),
        "best_score_over_baseline": {n: float(f"{b['ratio']:.3g}") for n, b in baselines.items()},
        "best_is_cheapest_scored": bool(by_number.at[s["best"]["number"], "cost"] == done["cost"].min()),
        "proxy_px_range": [round(done["px_error"].min(), 2), round(done["px_error"].max(), 2)],
        "parent_seconds": {b: p.get("wall_seconds") for b, p in sorted(parents.items())},
        "per_trial_s": round(float(evaluated["duration_s"].median()), 2) if len(evaluated) else math.nan,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--save", action="store_true", help=f"append the line to {RESULTS.relative_to(ROOT)}")
    opts = ap.parse_args()
    args = makefile_study()
    context = {"bench": "make_study", "title": TITLE, **run_info("bench/bench_make_study.py"),
               "study_command": "handkp-search " + shlex.join(args)}
    with tempfile.TemporaryDirectory(prefix="make-study-") as tmp:
        seconds = run(args, Path(tmp))
        line = {**context, "figure": "make_study", "study_s": round(seconds, 1), **summary(Path(tmp))}
    print(json.dumps(line))
    if opts.save:
        with RESULTS.open("a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
