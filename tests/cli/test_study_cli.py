"""The study, report and trials commands, run for real in a subprocess on a tiny space."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess

import optuna
import pytest
from conftest import TINY_SPACE, cli, folder_state


def run(args, env, cwd, timeout=900):
    return subprocess.run(cli(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def tiny_study(tmp_path, cli_env):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    return space, storage, tmp_path, cli_env


def test_study_runs_stores_attributes_and_writes_report(tiny_study):
    space, storage, tmp, env = tiny_study
    r = run(["study", "--space", str(space), "--trials", "3", "--storage", storage, "--device", "cpu",
             "--study-name", "tiny"], env, tmp)
    assert r.returncode == 0, r.stderr

    study = optuna.load_study(study_name="tiny", storage=storage)
    done_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    finished = [t for t in study.trials if t.state in done_states]
    assert len(finished) == 3
    baselines = sorted(t.user_attrs["baseline"] for t in study.trials if "baseline" in t.user_attrs)
    # the space only allows MobileNetV3-small: the two V3 seed models and the space's cheapest are the baselines
    assert baselines == ["seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced", "space_cheapest"]
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            for key in ("arch", "recipe", "gflops", "mparams", "px_error", "pck", "score", "train_seconds",
                        "images_per_s"):
                assert key in t.user_attrs, key
            a = t.user_attrs
            assert a["score"] == pytest.approx(a["gflops"] * a["mparams"] * 2.718281828459045 ** a["px_error"])
            assert t.value == pytest.approx(a["score"])
        elif t.state == optuna.trial.TrialState.PRUNED:
            assert t.user_attrs["reason"]

    html = (tmp / "reports" / "tiny.html").read_text()
    assert not re.search(r"<script[^>]+src=", html), "report must not load scripts from elsewhere"
    assert "plotly" in html.lower()
    front = json.loads(re.search(r'<script type="application/json" id="pareto-data">(.*?)</script>', html, re.S)[1])
    assert front and all({"number", "cost", "px_error"} <= set(p) for p in front)
    rows = list(csv.DictReader((tmp / "reports" / "tiny.csv").open()))
    assert len(rows) == len(study.trials)

    # a rerun of the same command with a higher target resumes: earlier trials kept, one more run; a
    # time budget is said on the study's line (as `make study` passes one)
    r2 = run(["study", "--space", str(space), "--trials", "4", "--storage", storage, "--device", "cpu",
              "--study-name", "tiny", "--timeout", "600"], env, tmp)
    assert r2.returncode == 0, r2.stderr
    assert "target 4, no new trial after 600 s" in " ".join(r2.stdout.split()) and "no new trial" not in r.stdout
    study = optuna.load_study(study_name="tiny", storage=storage)
    states = [t.state for t in study.trials]
    assert sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states) == 4
    assert sum("baseline" in t.user_attrs for t in study.trials) == 3  # baselines not enqueued twice

    out = run(["trials", "--study-name", "tiny", "--storage", storage], env, tmp)
    assert out.returncode == 0 and "mnv3s_full" in out.stdout  # baselines, short names

    other = tmp / "elsewhere.html"
    rep = run(["report", "--study-name", "tiny", "--storage", storage, "-o", str(other)], env, tmp)
    assert rep.returncode == 0, rep.stderr
    assert other.exists() and other.with_suffix(".csv").exists()


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_repeats_measure_the_proxy_noise_and_are_not_ranked(tiny_study):
    # --repeats 1: the first baseline trains once more with another seed (after the others), counted in --trials,
    # not ranked
    space, storage, tmp, env = tiny_study
    space.write_text(TINY_SPACE.replace("epochs: 2", "epochs: 1").replace("train_images: 48", "train_images: 16")
                     .replace("val_images: 16", "val_images: 8"))
    r = run(["study", "--space", str(space), "--trials", "4", "--repeats", "1", "--storage", storage, "--device",
             "cpu", "--study-name", "noisy"], env, tmp)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="noisy", storage=storage)
    full, reduced = "seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced"
    assert [(t.user_attrs.get("baseline"), t.user_attrs.get("repeat", 0), t.state.name) for t in study.trials] == [
        (full, 0, "COMPLETE"), (reduced, 0, "COMPLETE"), ("space_cheapest", 0, "COMPLETE"), (full, 1, "COMPLETE")]
    first, again = study.trials[0].user_attrs, study.trials[3].user_attrs
    assert again["arch"] == first["arch"] and (first["recipe"]["seed"], again["recipe"]["seed"]) == (0, 1000)

    html = (tmp / "reports" / "noisy.html").read_text()
    facts = json.loads(re.search(r'<script type="application/json" id="summary-data">(.*?)</script>', html, re.S)[1])
    assert facts["best"]["number"] in (0, 1, 2) and [b["number"] for b in facts["baselines"]] == [0, 1, 2]
    # the repeated baseline's two errors, side by side in the page (the verdict's wording is not pinned here)
    assert f"<td class=\"name\">{full}</td><td>{first['px_error']:.3f}, {again['px_error']:.3f}</td>" in html
    rows = list(csv.DictReader((tmp / "reports" / "noisy.csv").open()))
    assert [row["repeat"] for row in rows] == ["0", "0", "0", "1"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["report", "--study-name", "nope", "--storage", "sqlite:///s.db"],
         "study 'nope' not found in sqlite:///s.db (studies there: x)"),
        (["report", "--study-name", "x", "--storage", "notaurl"], "not a storage URL"),
        (["trials", "--study-name", "x", "--storage", "postgresql+psycopg://u@127.0.0.1:1/db"], "cannot open"),
        (["study", "--space", "missing.yaml"], "missing.yaml: cannot read"),
        (["study", "--space", "bad.yaml"], "bad.yaml: proxy.epochs: 0 is out of range"),
        (["study", "--space", "tiny.yaml", "--objective", "fastest", "--storage", "sqlite:///s.db"],
         "objective: 'fastest'"),
        (["train", "--backbone", "resnet"], "backbone: 'resnet' is not one of"),
    ],
)
def test_bad_input_one_line_exit_2_and_nothing_written(tiny_study, stored_study_db, args, needle):
    _, _, tmp, env = tiny_study
    (tmp / "bad.yaml").write_text("proxy: {epochs: 0}\n")
    shutil.copy(stored_study_db, tmp / "s.db")  # an existing storage the failing command must leave as it is
    before = folder_state(tmp)
    r = run(args, env, tmp, timeout=120)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert folder_state(tmp) == before  # no reports/, no default studies.db, the stored one byte-identical


def test_report_of_study_without_complete_trials_writes_nothing(tiny_study):
    _, storage, tmp, env = tiny_study
    optuna.create_study(study_name="empty", storage=storage)
    r = run(["report", "--study-name", "empty", "--storage", storage], env, tmp)
    assert r.returncode == 2 and "no complete trial" in r.stderr
    assert not (tmp / "reports" / "empty.html").exists()


def test_an_error_after_the_storage_is_opened_leaves_the_study_as_it_was_with_and_without_debug(
        tiny_study, stored_study_db):
    """Resuming study 'x' (created with --objective pareto) as a score study fails once the storage is open:
    exit 2 either way, the stored study untouched (no trial, baseline or attribute added, no report);
    --debug only adds the traceback, ending in the very error the plain run prints in one line."""
    _, _, tmp, env = tiny_study
    shutil.copy(stored_study_db, tmp / "s.db")
    args = ["study", "--space", "tiny.yaml", "--storage", "sqlite:///s.db", "--study-name", "x", "--objective",
            "score", "--device", "cpu"]
    before = folder_state(tmp)
    plain = run(args, env, tmp, timeout=120)
    assert plain.returncode == 2, (plain.stdout, plain.stderr)
    assert folder_state(tmp) == before
    debug = run(["--debug", *args], env, tmp, timeout=120)
    assert debug.returncode == 2, (debug.stdout, debug.stderr)
    assert folder_state(tmp) == before
    study = optuna.load_study(study_name="x", storage=f"sqlite:///{tmp / 's.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.user_attrs == {"objective": "pareto"}

    (message,) = [ln for ln in plain.stderr.splitlines() if ln.strip()]
    assert "'x'" in message and "pareto" in message and "score" in message, message
    frames = re.findall(r'File "([^"]+)", line \d+', debug.stderr)
    assert any("/nas/search/" in f for f in frames), debug.stderr  # down to the code that raised it
    last = [ln for ln in debug.stderr.splitlines() if ln.strip()][-1]
    assert last.endswith(message.removeprefix("error: ")), (last, message)


def test_piped_output_is_one_plain_line_per_finished_trial(tiny_study):
    # stdout is a pipe here, as in a log file or a cluster job: no bars, one line per trial as it finishes
    space, storage, tmp, env = tiny_study
    space.write_text(TINY_SPACE.replace("epochs: 2", "epochs: 1"))
    r = run(["study", "--space", str(space), "--trials", "2", "--storage", storage, "--device", "cpu",
             "--study-name", "piped"], env, tmp)
    assert r.returncode == 0, r.stderr
    study = optuna.load_study(study_name="piped", storage=storage)
    lines = [ln for ln in r.stdout.splitlines() if re.match(r"trial \d+ ", ln)]
    finished = [t for t in study.trials if t.state.is_finished()]  # the third baseline waits for a later run
    assert len(lines) == len(finished) == 2
    for t in finished:
        a = t.user_attrs
        (line,) = [ln for ln in lines if ln.startswith(f"trial {t.number} {t.state.name.lower()}, ")]
        assert f"cost {a['gflops']:.4g} GFLOPs x {a['mparams']:.4g} MParams" in line
        assert f"score {a['score']:.4g}" in line and f"error {a['px_error']:.3g} px" in line
    assert "━" not in r.stdout.split("top ")[0]  # no progress bar before the leaderboard table


@pytest.mark.slow  # ~24 s: make test-all runs it (tests/search/test_share.py checks the stored worker label)
def test_every_trial_records_its_worker_and_trials_shows_it(tiny_study):
    # nothing fixes the threads: this worker, alone in the study on this host, takes every core
    space, storage, tmp, env = tiny_study
    env = {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", "HANDKP_THREADS")}
    space.write_text(TINY_SPACE.replace("epochs: 2", "epochs: 1"))
    r = run(["study", "--space", str(space), "--trials", "2", "--storage", storage, "--device", "cpu",
             "--study-name", "who"], env, tmp)
    assert r.returncode == 0, r.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    (said,) = [ln for ln in r.stdout.splitlines() if ln.startswith("worker ")]
    host, pid = said.split(":")[0].removeprefix("worker "), int(said.split(":")[1])
    assert said.endswith(f": 1 live worker of study who on this host -> {cores} of {cores} cores "
                         "(set --threads to override)")
    study = optuna.load_study(study_name="who", storage=storage)
    assert host == socket.gethostname() and pid != os.getpid()
    finished = [t for t in study.trials if t.state.is_finished()]  # the third baseline waits for a later run
    for t in finished:
        assert (t.user_attrs["worker_host"], t.user_attrs["worker_pid"], t.user_attrs["worker_threads"]) == (
            host, pid, cores)
    label = f"{host.split('.')[0]}:{pid} x{cores}"
    out = run(["trials", "--study-name", "who", "--storage", storage], env, tmp)
    assert out.returncode == 0 and "worker" in out.stdout and out.stdout.count(label) == len(finished)
    rows = list(csv.DictReader((tmp / "reports" / "who.csv").open()))
    assert [row["worker"] for row in rows if row["state"] != "WAITING"] == [label] * len(finished)

    # a count fixed by the environment is kept, and said where it came from
    r = run(["study", "--space", str(space), "--trials", "3", "--storage", storage, "--device", "cpu",
             "--study-name", "who"], {**env, "HANDKP_THREADS": "1"}, tmp)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^worker \S+: 1 thread\(s\) from HANDKP_THREADS \(1 live worker", r.stdout, re.M), r.stdout
    last = optuna.load_study(study_name="who", storage=storage).trials[-1]
    assert last.user_attrs["worker_threads"] == 1


def test_a_bad_handkp_threads_fails_before_any_work(tiny_study):
    space, _, tmp, env = tiny_study
    r = run(["study", "--space", str(space)], {**env, "HANDKP_THREADS": "0"}, tmp, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: HANDKP_THREADS='0'"), r.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["tiny.yaml"]


@pytest.mark.parametrize("option, value", [("--trials", "-3"), ("--workers", "0"), ("--timeout", "-1"),
                                           ("--max-bad", "2"), ("--threads", "0")])
def test_bad_numbers_fail_before_any_work(tiny_study, option, value):
    space, _, tmp, env = tiny_study
    r = run(["study", "--space", str(space), option, value], env, tmp, timeout=120)  # the default storage
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}"), r.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["tiny.yaml"]  # no reports/, no study database


def test_cost_command_prints_both_counts(cli_env, tmp_path):
    r = subprocess.run(cli("cost", "--backbone", "mobilenetv3_small", "--head-width", "2.0", "--error", "6.0"),
                       env=cli_env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "0.625722" in r.stdout and "2.502197" in r.stdout  # thop GFLOPs, MParams


def test_train_command_writes_result_json(cli_env, tmp_path):
    out = tmp_path / "r.json"
    r = subprocess.run(
        cli("train", "--backbone-width", "0.35", "--head-width", "0.25", "--head-depth", "1", "--train-size", "64",
            "--images", "32", "--val-images", "16", "--epochs", "1", "--batch-size", "16", "--device", "cpu",
            "--out", str(out)),
        env=cli_env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["px_error_is_estimate"] is True
    assert data["score"] == pytest.approx(data["cost"]["gflops"] * data["cost"]["mparams"]
                                          * 2.718281828459045 ** data["px_error"])
