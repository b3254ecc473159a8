"""bench/device_collect.py: a device run's folder summed up and filed, on real files in a tmp folder
and through the real command line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from device_collect import ROOT, eval_graph_default, file_lines, read_folder, summary

LOG = """=== 10:00:00 setup (limit 40s)
=== setup: rc=0 in 12s
=== 10:00:12 pipeline (limit 65s)
=== pipeline: rc=124 in 65s
"""
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1"
skipped="0" tests="6"><testcase classname="t" name="test_a_captured_run_trains_like_the_eager_one[on]">
<failure message="assert">x</failure></testcase><testcase classname="t" name="test_ok"/></testsuite></testsuites>"""


def _workers(n: int, span: float, device: str = "cuda") -> dict:
    return {"bench": "gpu_workers", "device": device, "workers": n, "combined_span_images_per_s": span,
            "combined_images_per_s": span * 1.1}


def _trainer(ratio: float) -> dict:
    return {"bench": "trainer_format", "device": "cuda:0", "model_name": "course_report", "size_px": 224,
            "batch_size": 64, "trainer_images_per_s": 4000.0, "trainer_cuda_graph": "on", "trainer_amp": "on",
            "trainer_memory_format": "channels_last", "best_loop": "graph_bf16", "trainer_vs_best": ratio,
            "eval_share_estimate": 0.12, "eval_graph_saves_estimate": 0.05,
            "eval_bf16_graph_saves_estimate": 0.07}


@pytest.fixture()
def run(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "log.txt").write_text(LOG)
    (folder / "cuda-tests.xml").write_text(JUNIT)
    rows = [_workers(1, 1000.0), _workers(2, 1890.0), _workers(4, 1960.0), _workers(8, 2000.0)]
    (folder / "gpu-workers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    (folder / "trainer-format.jsonl").write_text(json.dumps(_trainer(0.93)) + "\n" + json.dumps(_trainer(0.8)) + "\n")
    return folder


def test_the_eval_graph_default_follows_every_models_saving():
    lines = [_trainer(0.9) | {"model_name": m, "eval_graph_saves_estimate": v} for m, v in (("a", 0.08), ("b", 0.02))]
    assert eval_graph_default(lines) == "eval_graph default to set: auto (it saved 2%-8% of a trial)"
    lines[1]["eval_graph_saves_estimate"] = -0.01
    assert eval_graph_default(lines) == "eval_graph default: stays off (no saving for b)"
    assert "not measured" in eval_graph_default([{k: v for k, v in lines[0].items() if "graph_saves" not in k}])


def test_the_summary_reads_every_step_test_goal_and_decision(run):
    text = "\n".join(summary(run, read_folder(run)))
    assert "setup: ok in 12 s" in text and "pipeline: TIMED OUT in 65 s" in text
    assert "5 passed, 1 failed, 0 skipped" in text
    assert "FAILED test_a_captured_run_trains_like_the_eager_one[on]" in text
    assert "ratio 0.93 meets >= 0.9" in text and "ratio 0.8 MISSES >= 0.9" in text
    assert "eval_graph: on would save ~5%, captured in bfloat16 ~7%" in text
    assert "eval_graph default to set: auto (it saved 5%-5% of a trial)" in text
    # 4 workers reach 1,960 of the most's 2,000 (within 5%), 2 workers' 1,890 do not
    assert "default to set: 4 (the fewest within 5% of the most, 2000.0 images/s)" in text
    assert "## evidence at 224 px\nnot measured" in text


def test_filing_appends_only_lines_not_there_yet(run, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "gpu-workers.jsonl").write_text(json.dumps(_workers(1, 1000.0)) + "\n")
    lines = {"gpu-workers.jsonl": [_workers(1, 1000.0), _workers(2, 1900.0)], "gpu-evidence.jsonl": []}
    assert file_lines(lines, results) == {"gpu-workers.jsonl": 1, "gpu-evidence.jsonl": 0}
    assert file_lines(lines, results) == {"gpu-workers.jsonl": 0, "gpu-evidence.jsonl": 0}
    kept = [json.loads(x) for x in (results / "gpu-workers.jsonl").read_text().splitlines()]
    assert [x["workers"] for x in kept] == [1, 2] and not (results / "gpu-evidence.jsonl").exists()
    assert sorted(p.name for p in results.iterdir()) == ["gpu-workers.jsonl"]  # no temporary file left


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "device_collect.py"), *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("bad, problem", [(_workers(2, 1.0, device="cpu"), "measured on 'cpu', not CUDA"),
                                          (None, "not a JSON line")])
def test_a_dry_run_or_a_broken_line_is_refused_before_anything_is_written(run, bad, problem):
    with (run / "gpu-workers.jsonl").open("a") as f:
        f.write((json.dumps(bad) if bad else "{not json") + "\n")
    before = {p.name: p.read_bytes() for p in (ROOT / "docs" / "results").iterdir()}
    r = _cli(str(run), "--apply")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(f"device_collect: {run / 'gpu-workers.jsonl'}:5: {problem}")
    assert {p.name: p.read_bytes() for p in (ROOT / "docs" / "results").iterdir()} == before
