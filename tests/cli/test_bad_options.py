"""Bad command lines fail while they are parsed: one line on stderr naming the option, exit 2, and
nothing rendered, created or written (real CLI in a subprocess, in an empty folder)."""
from __future__ import annotations

import subprocess

import pytest
from conftest import cli

SQLITE = "sqlite:///s.db"
BAD = [
    # command and its other arguments, the bad option, its value
    (["cost"], "--backbone-width", "2.0"),
    (["cost"], "--head-depth", "0"),
    (["cost"], "--head-width", "0"),
    (["cost"], "--input-size", "8"),
    (["cost"], "--error", "-1"),
    (["train"], "--epochs", "0"),
    (["train"], "--images", "1"),
    (["train"], "--val-images", "0"),
    (["train"], "--batch-size", "1"),
    (["train"], "--aug", "0"),
    (["train"], "--lr", "-0.1"),
    (["train"], "--lr-min", "-1"),
    (["train"], "--train-size", "8"),
    (["train"], "--seed", "-1"),
    (["train"], "--threads", "0"),
    (["train"], "--epochs", "two"),
    (["pick", "--study-name", "x", "--storage", SQLITE], "--trial", "-1"),
    (["pick", "--study-name", "x", "--storage", SQLITE], "--max-gflops", "-1"),
    (["pick", "--study-name", "x", "--storage", SQLITE], "--max-error", "-0.5"),
    (["retrain", "a.yaml"], "--epochs", "0"),
    (["retrain", "a.yaml"], "--train-images", "1"),
    (["retrain", "a.yaml"], "--val-images", "0"),
    (["retrain", "a.yaml"], "--test-images", "-5"),
    (["retrain", "a.yaml"], "--max-bad", "1.5"),
    (["retrain", "a.yaml"], "--data-seed", "-1"),
    (["retrain", "a.yaml"], "--batch-size", "1"),
    (["retrain", "a.yaml"], "--aug", "0"),
    (["retrain", "a.yaml"], "--lr", "-1"),
    (["retrain", "a.yaml"], "--lr-min", "-1"),
    (["retrain", "a.yaml"], "--threads", "0"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--top", "-1"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--random", "-2"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--seed", "-1"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--test-images", "1"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--epochs", "0"),
    (["fidelity", "--study-name", "x", "--storage", SQLITE], "--threads", "0"),
    (["predict", "ck.pt", "--images", "imgs", "--csv", "p.csv"], "--batch-size", "0"),
    (["data", "synth", "--out", "ex"], "--count", "0"),
    (["data", "synth", "--out", "ex"], "--size", "8"),
    (["data", "synth", "--out", "ex"], "--seed", "-1"),
    (["data", "info", "ex"], "--size", "4096"),
    (["data", "info", "ex"], "--max-bad", "2"),
    (["data", "info", "ex"], "--data-seed", "-3"),
]


def _run(args, env, cwd):
    return subprocess.run(cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return lines[0]


@pytest.fixture()
def empty(tmp_path, cli_env):
    """An empty working folder and an empty data cache: whatever a command writes shows up in one."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    return work, cache, {**cli_env, "HANDKP_CACHE": str(cache)}


@pytest.mark.parametrize("args, option, value", BAD, ids=[f"{a[0]} {o} {v}" for a, o, v in BAD])
def test_bad_number_fails_before_any_work(empty, args, option, value):
    work, cache, env = empty
    r = _run([*args, option, value], env, work)
    line = _one_line(r)
    assert line.startswith(f"error: {option}: "), line
    assert r.stdout == ""
    assert not any(work.iterdir()) and not any(cache.iterdir())


def test_rank_zero_is_refused_before_the_storage_is_opened(empty):
    work, _, env = empty
    r = _run(["pick", "--study-name", "x", "--storage", SQLITE, "--rank", "0"], env, work)
    assert "--rank 0" in _one_line(r)
    assert not (work / "s.db").exists()


def test_lr_min_above_lr_fails_before_data_is_rendered(empty):
    work, cache, env = empty
    (work / "a.yaml").write_text("backbone: mobilenetv3_small\nbackbone_width: 0.35\ninput_size: 64\n")
    r = _run(["retrain", "a.yaml", "--lr", "1e-3", "--lr-min", "1e-2", "--device", "cpu", "-o", "run"], env, work)
    assert "lr_min" in _one_line(r)
    assert sorted(p.name for p in work.iterdir()) == ["a.yaml"] and not any(cache.iterdir())


@pytest.mark.parametrize("args, needle", [
    (["cost", "--no-such-option"], "--no-such-option"),
    (["pick"], "--study-name"),
    (["retrain"], "arch_file"),
    (["data", "nothing"], "nothing"),
])
def test_usage_errors_are_one_line(empty, args, needle):
    work, _, env = empty
    assert needle in _one_line(_run(args, env, work))


def test_data_group_lists_its_commands(empty):
    work, _, env = empty
    r = _run(["data", "--help"], env, work)
    assert r.returncode == 0
    listed = {ln.strip(" │").split()[0] for ln in r.stdout.splitlines() if ln.strip(" │").startswith(("synth", "info"))}
    assert listed == {"synth", "info"}
