"""Wall time of one tiny study run by 1 worker vs N workers on one shared storage.

    .venv/bin/python bench/bench_workers.py --storage postgresql+psycopg://postgres@127.0.0.1:54329/handkp
    .venv/bin/python bench/bench_workers.py            # journal file storage, no server

Runs `handkp-search study --workers K` (K = 1, then N) on the same tiny space and trial count,
in fresh studies, and prints one JSON line per run and the ratio. Threads are split between the
workers (cores // K each), so on a machine with few cores the speed-up is bounded by the cores.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SPACE = """
space:
  backbone: [mobilenetv3_small]
  backbone_width: {low: 0.25, high: 0.5, step: 0.05}
  head_width: {low: 0.125, high: 0.5, step: 0.125}
  head_depth: {low: 1, high: 2}
  aug_multiplier: {low: 1, high: 2}
input_size: 64
proxy: {train_size: 64, epochs: 2, train_images: 96, val_images: 32, batch_size: 16}
data: {source: synthetic, seed: 3}
search: {startup_trials: 2}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--storage", default=None, help="default: a journal file in a temporary folder")
    ap.add_argument("--trials", type=int, default=9)
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="handkp-workers-") as tmp:
        tmp = Path(tmp)
        (tmp / "tiny.yaml").write_text(SPACE)
        storage = args.storage or f"journal:///{tmp / 'bench.journal'}"
        times = {}
        for k in (1, args.workers):
            name = f"workers{k}-{uuid.uuid4().hex[:6]}"
            cmd = [sys.executable, "-m", "nas", "study", "--space", str(tmp / "tiny.yaml"), "--trials",
                   str(args.trials), "--storage", storage, "--study-name", name, "--device", "cpu",
                   "--workers", str(k), "-o", str(tmp / f"{name}.html")]
            if k == 1 and storage.startswith("journal"):
                pass  # a single process may use any storage; keep the same one for a fair comparison
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
            times[k] = time.perf_counter() - t0
            print(json.dumps({"bench": "workers", "workers": k, "trials": args.trials,
                              "storage": storage.split(":")[0], "seconds": round(times[k], 1)}), flush=True)
        print(json.dumps({"bench": "workers_speedup", "workers": args.workers,
                          "ratio_1_over_n": round(times[1] / times[args.workers], 2)}), flush=True)


if __name__ == "__main__":
    main()
