"""`cost` and `train` through the real CLI: an architecture file means the same as its options, and
`train --out` writes the run it printed."""
from __future__ import annotations

import json
import math
import re
import subprocess

import pytest
from conftest import cli

ARCH = {"backbone": "mobilenetv3_small", "backbone_width": 0.35, "head_depth": 1, "head_width": 0.25,
        "input_size": 64}
FLAGS = ["--backbone-width", "0.35", "--head-depth", "1", "--head-width", "0.25", "--input-size", "64"]


def _run(args, env, cwd, timeout=300):
    r = subprocess.run(cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?(?:e[+-]\d+)?", text)]


@pytest.mark.slow  # ~20 s of CLI subprocesses: make test-all runs it (make test stays under 10 minutes)
def test_an_architecture_file_costs_the_same_as_its_options(tmp_path, cli_env):
    (tmp_path / "plain.yaml").write_text("".join(f"{k}: {v}\n" for k, v in ARCH.items()))
    (tmp_path / "picked.yaml").write_text("arch:\n" + "".join(f"  {k}: {v}\n" for k, v in ARCH.items()))
    printed = _run(["cost", *FLAGS, "--error", "40"], cli_env, tmp_path)
    assert not re.search(r"\d{9}", printed), printed  # a score of ~1e15 in a few significant digits
    by_flags = _numbers(printed)
    assert len(by_flags) >= 5 and by_flags[-1] > 0
    # --arch wins over the options (here: the defaults, a much larger model)
    for name in ("plain.yaml", "picked.yaml"):
        assert _numbers(_run(["cost", "--arch", name, "--error", "40"], cli_env, tmp_path)) == by_flags
    gflops, mparams, _gmacs, cost, score = by_flags[-5:]
    assert math.isclose(cost, gflops * mparams, rel_tol=2e-3)  # printed to 6 decimals
    assert math.isclose(score, cost * math.exp(40), rel_tol=2e-3)


def test_train_writes_the_run_it_trained(tmp_path, cli_env):
    out = tmp_path / "r.json"
    _run(["train", *FLAGS, "--train-size", "64", "--images", "32", "--val-images", "16", "--epochs", "2",
          "--batch-size", "16", "--aug", "2", "--lr", "2e-3", "--lr-min", "1e-4", "--seed", "3", "--device", "cpu",
          "--out", str(out)], cli_env, tmp_path)
    data = json.loads(out.read_text())
    assert data["arch"] == {**ARCH, "num_keypoints": 21}
    r = data["recipe"]
    assert (r["epochs"], r["batch_size"], r["aug_multiplier"], r["lr"], r["lr_min"], r["seed"]) == (2, 16, 2, 2e-3,
                                                                                                     1e-4, 3)
    assert len(data["history"]) == 2 and data["best_epoch"] in (1, 2)
    assert data["px_error_is_estimate"] is False  # trained at the deployed size
    assert data["px_error"] == min(h["px_error"] for h in data["history"])
    assert math.isclose(data["score"], data["cost"]["gflops"] * data["cost"]["mparams"] * math.exp(data["px_error"]))
