"""Bad command lines fail while they are parsed (real CLI in a subprocess): exit 2, one line on stderr
naming the option and the value given, nothing on stdout, and the working folder and the data cache
exactly as they were: no file created (no storage, report, checkpoint or run folder), and the existing
arch file and storage database byte-identical."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import cli, folder_state

SQLITE = "sqlite:///s.db"
ARCH = "backbone: mobilenetv3_small\nbackbone_width: 0.35\ninput_size: 64\n"
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
    """The run's only stderr line, after checking it failed as a usage error (exit 2) and printed nothing else."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert (r.returncode, len(lines), r.stdout) == (2, 1, ""), (r.returncode, r.stdout, r.stderr)
    return lines[0]


def _names(line: str, *words: str) -> bool:
    """`line` holds each word as a whole token (so '0' is not found inside '10' or '0.99')."""
    return all(re.search(rf"(?<![\w.-]){re.escape(w)}(?![\w.])", line) for w in words)


@pytest.fixture()
def folder(tmp_path, cli_env, stored_study_db):
    """A working folder holding what the commands read (an arch file, a storage with study 'x'), an empty
    data cache, and the environment pointing at it: whatever a command writes or changes shows up."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    cache.mkdir()
    (work / "a.yaml").write_text(ARCH)
    shutil.copy(stored_study_db, work / "s.db")
    return work, cache, {**cli_env, "HANDKP_CACHE": str(cache)}


def _unchanged(work, cache, run):
    """Run `run()` and check it left the working folder and the cache exactly as they were; its result."""
    before = folder_state(work), folder_state(cache)
    result = run()
    assert (folder_state(work), folder_state(cache)) == before
    return result


@pytest.mark.parametrize("args, option, value", BAD, ids=[f"{a[0]} {o} {v}" for a, o, v in BAD])
def test_bad_number_fails_before_any_work(folder, args, option, value):
    work, cache, env = folder
    line = _one_line(_unchanged(work, cache, lambda: _run([*args, option, value], env, work)))
    assert line.startswith(f"error: {option}: "), line
    assert _names(line.removeprefix(f"error: {option}: "), value), f"{line!r} does not say the value {value!r}"


def test_rank_zero_is_refused_before_the_storage_is_opened(folder):
    work, cache, env = folder
    args = ["pick", "--study-name", "x", "--storage", SQLITE, "--rank", "0"]
    assert _names(_one_line(_unchanged(work, cache, lambda: _run(args, env, work))), "--rank", "0")
    (work / "s.db").unlink()  # no storage there: opening it would create the file
    assert _names(_one_line(_unchanged(work, cache, lambda: _run(args, env, work))), "--rank", "0")


def test_lr_min_above_lr_fails_before_data_is_rendered(folder):
    work, cache, env = folder
    args = ["retrain", "a.yaml", "--lr", "1e-3", "--lr-min", "1e-2", "--device", "cpu", "-o", "run"]
    line = _one_line(_unchanged(work, cache, lambda: _run(args, env, work)))
    assert ("lr_min" in line or "--lr-min" in line) and _names(line, "0.01", "0.001"), line


@pytest.mark.parametrize("args, needle", [
    (["cost", "--no-such-option"], "--no-such-option"),
    (["pick"], "--study-name"),
    (["retrain"], "arch_file"),
    (["data", "nothing"], "nothing"),
])
def test_usage_errors_are_one_line(folder, args, needle):
    work, cache, env = folder
    assert needle in _one_line(_unchanged(work, cache, lambda: _run(args, env, work)))


def test_data_group_lists_its_commands(folder):
    work, cache, env = folder
    r = _run(["data", "--help"], env, work)
    assert r.returncode == 0
    listed = {ln.strip(" │").split()[0] for ln in r.stdout.splitlines() if ln.strip(" │").startswith(("synth", "info"))}
    assert listed == {"synth", "info"}


@pytest.mark.parametrize("args, command, text", [
    (["--help"], "fidelity", "Check the proxy: retrain a spread of the study's trials fully and rank them again."),
    (["--help"], "retrain", "checkpoint, metrics, curves and a picture of test predictions."),
    (["data", "--help"], "synth", "(labels.csv + images/*.png): a complete example of the simplest dataset"),
])
def test_command_lists_flow_each_paragraph(folder, args, command, text):
    """On a wide terminal a command's row in the list holds its docstring's first paragraph on one line
    (Typer would keep the docstring's own line breaks)."""
    work, cache, env = folder
    r = _run(args, {**env, "COLUMNS": "400"}, work)
    row = next(ln for ln in r.stdout.splitlines() if ln.strip(" │").startswith(command + " "))
    assert text in row, row


def test_command_help_flows_later_paragraphs(folder):
    work, cache, env = folder
    r = _run(["study", "--help"], {**env, "COLUMNS": "400"}, work)
    assert "--trials counts the study's total. Started on several machines" in r.stdout
