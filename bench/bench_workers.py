"""Two workers of one study on one machine: started by hand (as before, and with the thread share)
against `--workers 2`, and one worker alone.

    .venv/bin/python bench/bench_workers.py            # 8 trials of 600 images x 2 epochs per arm
    .venv/bin/python bench/bench_workers.py --quick    # a smoke: 3 tiny trials per arm, figures mean nothing

Four arms, each a fresh study in a journal file in a temporary folder, on the same space and trial
budget: (1) one `handkp-search study` process; (2) two processes started by hand "as before this
change", each with `--threads <every core>` (each took all the cores); (3) two processes started
by hand with the new default (each takes its share of the cores: cores // live workers of the study
on this host); (4) one process with `--workers 2`. The space fixes the architecture and turns off
the pre-training skip and pruning, so every arm trains the same trials (the enqueued baselines, then
the fixed architecture): only the scheduling differs. OMP_NUM_THREADS and HANDKP_THREADS are removed
from the arms' environment.

Per arm: wall time, and per worker (grouped by the trials' worker attributes) its trials and mean
images/s over the fixed-architecture trials (the baselines are other models; a worker that ran only
baselines is averaged over those); the combined images/s is the sum over workers of their means.
Ratios of the same run: arm 3 / arm 4 combined (goal >= 0.9) and arm 2 / arm 4. One JSON line per
arm and a summary line are printed and appended to docs/results/workers-threads.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common.run_info import run_info

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "docs" / "results" / "workers-threads.jsonl"
TITLE = "Two workers of one study on one machine: thread shares (bench/bench_workers.py)"
SIZES = {"full": {"trials": 8, "train_images": 600, "val_images": 100, "epochs": 2},
         "quick": {"trials": 3, "train_images": 48, "val_images": 16, "epochs": 1}}
SPACE = """
space:
  backbone: [mobilenetv3_small]
  backbone_width: 0.5
  head_width: 0.5
  head_depth: 1
  aug_multiplier: 1
input_size: 64
proxy: {{train_size: 64, epochs: {epochs}, train_images: {train_images}, val_images: {val_images}, batch_size: 32}}
data: {{source: synthetic, seed: 3}}
search: {{startup_trials: 0, prune_percentile: 100, prune_warmup_epochs: 1000, pre_train_margin_px: 1000}}
"""
ARMS = ("1 worker", "2 by hand, as before (each --threads = every core)", "2 by hand, new default", "--workers 2")


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "HANDKP_THREADS")}
    return {**env, "HANDKP_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


def _study_cmd(tmp: Path, name: str, trials: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nas", "study", "--space", str(tmp / "space.yaml"), "--trials", str(trials),
            "--storage", f"journal:///{tmp / 'studies.journal'}", "--study-name", name, "--device", "cpu",
            "--cache-dir", str(tmp / "cache"), "-o", str(tmp / f"{name}.html"), *extra]


def run_arm(tmp: Path, arm: int, trials: int) -> tuple[str, float]:
    """Run one arm to the end; (study name, wall seconds)."""
    name = f"arm{arm}-{uuid.uuid4().hex[:6]}"
    from nas.training.threads import available_cores

    every = str(available_cores())
    cmds = {1: [_study_cmd(tmp, name, trials)],
            2: [_study_cmd(tmp, name, trials, "--threads", every)] * 2,
            3: [_study_cmd(tmp, name, trials)] * 2,
            4: [_study_cmd(tmp, name, trials, "--workers", "2")]}[arm]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=tmp, env=_env(tmp / "cache"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for c in cmds]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.perf_counter() - t0
    for p, out in zip(procs, outputs):
        if p.returncode != 0:
            raise SystemExit(f"arm {arm} failed (exit {p.returncode}):\n{out}")
    return name, seconds


def per_worker(study) -> list[dict[str, object]]:
    """Each worker of a finished study: its trials, threads and mean images/s (see the module docstring)."""
    groups: dict[str, list[dict]] = {}
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        if t.state.name == "COMPLETE" and "images_per_s" in a:
            groups.setdefault(f"{a.get('worker_host')}:{a.get('worker_pid')}", []).append(a)
    rows = []
    for worker, attrs in sorted(groups.items()):
        fixed = [a for a in attrs if not a.get("baseline")] or attrs
        threads = sorted({a["worker_threads"] for a in attrs} | {a.get("worker_threads_end") or 0 for a in attrs} - {0})
        rows.append({"worker": worker, "trials": len(attrs), "threads": "-".join(map(str, threads)),
                     "images_per_s": round(statistics.mean(a["images_per_s"] for a in fixed), 1)})
    return rows


def measure(tmp: Path, arm: int, trials: int) -> dict[str, object]:
    """One arm's line: wall time, then per worker (lists in the same order) and combined."""
    import optuna

    from nas.search import load_existing_study

    name, seconds = run_arm(tmp, arm, trials)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workers = per_worker(load_existing_study(name, f"journal:///{tmp / 'studies.journal'}"))
    return {"arm": arm, "arm_name": ARMS[arm - 1], "seconds": round(seconds, 1), "workers": len(workers),
            "trials_per_worker": [w["trials"] for w in workers], "threads_per_worker": [w["threads"] for w in workers],
            "images_per_s_per_worker": [w["images_per_s"] for w in workers],
            "combined_images_per_s": round(sum(w["images_per_s"] for w in workers), 1)}


def _fill_cache(tmp: Path) -> None:
    """Render the synthetic data once, before any arm is timed."""
    from nas.search import StudyOptions, load_space, load_study_data

    space = load_space(tmp / "space.yaml")
    load_study_data(StudyOptions(space_file=tmp / "space.yaml", study_name="cache", storage="sqlite://",
                                 cache_dir=tmp / "cache"), space)


def _append(path: Path, lines: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


def _summary(run: dict[str, object], arms: list[dict[str, object]]) -> dict[str, object]:
    combined = {a["arm"]: a["combined_images_per_s"] for a in arms}
    return {"bench": "workers_threads_summary", **run,
            "by_hand_new_over_workers_2": round(combined[3] / combined[4], 2) if combined[4] else None,
            "by_hand_before_over_workers_2": round(combined[2] / combined[4], 2) if combined[4] else None,
            "goal": "by_hand_new_over_workers_2 >= 0.9"}


def main() -> None:
    parts = __doc__.split("\n\n", 2)
    ap = argparse.ArgumentParser(description=parts[0], epilog=parts[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 tiny trials per arm: a smoke, its figures mean nothing")
    ap.add_argument("--out", type=Path, default=OUT,
                    help=f"JSON lines appended here (default: {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]
    run = {"title": TITLE, **run_info("bench/bench_workers.py"), **sizes}
    if args.quick:
        run["caveats"] = "a --quick smoke: its figures mean nothing"
    with tempfile.TemporaryDirectory(prefix="handkp-workers-") as tmp:
        tmp = Path(tmp)
        (tmp / "space.yaml").write_text(SPACE.format(**sizes))
        _fill_cache(tmp)
        arms = []
        for arm in range(1, len(ARMS) + 1):
            arms.append({"bench": "workers_threads", **run, **measure(tmp, arm, sizes["trials"])})
            print(json.dumps(arms[-1]), flush=True)
    summary = _summary(run, arms)
    print(json.dumps(summary), flush=True)
    _append(args.out, [*arms, summary])


if __name__ == "__main__":
    main()
