"""bench/bench_gpu_workers.py on the CPU (the code path a lent GPU runs, at 64 px): one line per worker
count, whose figure over the wall time cannot exceed the summed rates; bad arguments stop it before
any process starts."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

SCRIPT = str(ROOT / "bench" / "bench_gpu_workers.py")


def test_each_round_gives_a_line_whose_wall_time_figure_is_at_most_the_summed_rates(tmp_path):
    out = tmp_path / "workers.jsonl"
    run = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--counts", "2,1", "--size", "64",
                          "--images", "32", "--batch", "16", "--epochs", "3", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["workers"] for x in lines] == [1, 2] and all(x["timed_epochs"] == 2 for x in lines)
    for x in lines:
        assert len(x["per_worker_images_per_s"]) == x["workers"] and min(x["per_worker_images_per_s"]) > 0
        assert abs(x["combined_images_per_s"] - sum(x["per_worker_images_per_s"])) <= 0.1 * x["workers"]  # rounding
        assert 0 < x["combined_span_images_per_s"] <= x["combined_images_per_s"]
        assert x["compute"] == "float32+channels_last" and x["device"] == "cpu" and x["commit"]


def test_an_untimed_run_is_refused_before_any_process_starts(tmp_path):
    out = tmp_path / "workers.jsonl"
    run = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--epochs", "1", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2 and "--epochs 1" in run.stderr and not out.exists()
