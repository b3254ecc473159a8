"""Several workers on one study, worker death and Ctrl-C, through the real CLI.

The PostgreSQL tests need a server: `.ci/run` starts a throwaway one (`.ci/postgres.sh start`) and
sets HANDKP_TEST_PG; in CI they must run, elsewhere they skip when it is not set.
"""
from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
from conftest import TINY_SPACE, cli

DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
ATTRS = ("arch", "recipe", "gflops", "mparams", "px_error", "pck", "score", "train_seconds", "images_per_s")


@pytest.fixture()
def pg_url():
    url = os.environ.get("HANDKP_TEST_PG")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests: .ci/run sets HANDKP_TEST_PG")
        pytest.skip("no PostgreSQL server: run `.ci/postgres.sh start` and set HANDKP_TEST_PG to the URL it prints")
    return url


@pytest.fixture()
def env(cli_env):
    # several workers share 2 cores: one thread each; heartbeats every second, a dead worker noticed after
    # 20 s (generous, so that a live but starved worker on a loaded machine is not taken for dead)
    return {**cli_env, "OMP_NUM_THREADS": "1", "HANDKP_HEARTBEAT_S": "1", "HANDKP_GRACE_S": "20"}


def study_args(tmp_path, storage, name, trials, *extra):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY_SPACE)
    return ["study", "--space", str(space), "--trials", str(trials), "--storage", storage, "--study-name", name,
            "--device", "cpu", "-o", str(tmp_path / f"{name}.html"), *extra]


def load(storage, name):
    from nas.search.workers.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(storage, heartbeat_interval=None))


def check_complete_trials(study):
    for t in study.trials:
        if t.state == optuna.trial.TrialState.COMPLETE:
            missing = [k for k in ATTRS if k not in t.user_attrs]
            assert not missing, (t.number, missing)


def wait_for_running(storage, name, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = load(storage, name)
            running = [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
            if running:
                return running[0].number
        except KeyError:
            pass
        time.sleep(0.2)
    raise AssertionError("no trial started")


OPEN_AT = """
import sys, time
from nas.search.workers.storage import open_storage
from nas.errors import StudyError
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all processes open the storage at one moment
try:
    open_storage(sys.argv[1])
except StudyError as exc:
    sys.exit(str(exc))
"""


@pytest.fixture()
def empty_pg_url(pg_url):
    """A fresh, empty database on the test server (Optuna's tables not yet created)."""
    import psycopg

    db = f"handkp_{uuid.uuid4().hex[:10]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    yield pg_url.rsplit("/", 1)[0] + "/" + db
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


def test_workers_starting_at_once_on_an_empty_database_all_open_it(empty_pg_url, env, tmp_path):
    # each process creates Optuna's tables if missing; unguarded, simultaneous CREATE TABLEs collide
    start = time.time() + 8
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, empty_pg_url, str(start)], env=env, cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors


def test_three_workers_on_postgresql_share_one_study(pg_url, env, tmp_path):
    name = f"three-{uuid.uuid4().hex[:8]}"
    args = study_args(tmp_path, pg_url, name, 9)
    # three independent processes started at once, as on three machines
    procs = [subprocess.Popen(cli(*args), env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    study = load(pg_url, name)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    finished = [t for t in study.trials if t.state in DONE]
    assert len(finished) == 9  # the total asked for, across workers, not per worker
    baselines = [t.user_attrs["baseline"] for t in study.trials if "baseline" in t.user_attrs]
    assert sorted(baselines) == ["seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced",
                                 "space_cheapest"]  # not duplicated
    check_complete_trials(study)
    assert (tmp_path / f"{name}.html").exists()


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_a_killed_worker_trial_fails_and_is_retried(pg_url, env, tmp_path):
    name = f"kill-{uuid.uuid4().hex[:8]}"
    args = study_args(tmp_path, pg_url, name, 4)
    victim = subprocess.Popen(cli(*args), env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = wait_for_running(pg_url, name)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    survivor = subprocess.run(cli(*args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert survivor.returncode == 0, survivor.stderr
    study = load(pg_url, name)
    by_number = {t.number: t for t in study.trials}
    assert by_number[killed].state == optuna.trial.TrialState.FAIL
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1 and retries[0].state in DONE  # retried once, by the other worker
    # the retry runs what the killed trial ran; killed before it sampled, what it was enqueued with (a baseline)
    dead = by_number[killed]
    expected = {**dead.system_attrs.get("fixed_params", {}), **dead.params}
    if expected:
        assert retries[0].params == expected
    assert sum(t.state in DONE for t in study.trials) == 4
    check_complete_trials(study)
    rows = list(csv.DictReader((tmp_path / f"{name}.csv").open()))
    assert any(r["retried_from"] == str(killed) for r in rows)  # the report shows the retry


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_ctrl_c_records_interrupted_and_the_same_command_resumes(cli_env, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    args = study_args(tmp_path, storage, "intr", 3)
    # trials of 20 epochs (seconds, not the tiny space's fraction of one): still training when the signal comes
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE.replace("epochs: 1\n", "epochs: 20\n"))
    # SIGINT as a terminal delivers it, even where this test runs in the background of a non-interactive
    # shell (which starts it, and so the child, with SIGINT ignored: Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen(cli(*args), env=cli_env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stopped = wait_for_running(storage, "intr")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    study = load(storage, "intr")
    t = {t.number: t for t in study.trials}[stopped]
    assert t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("reason") == "interrupted"
    r = subprocess.run(cli(*args), env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    study = load(storage, "intr")
    assert sum(t.state in DONE for t in study.trials) == 3
    check_complete_trials(study)


def test_two_workers_with_the_journal_file_storage(cli_env, tmp_path):
    storage = f"journal:///{tmp_path / 'studies.journal'}"
    r = subprocess.run(cli(*study_args(tmp_path, storage, "jr", 4, "--workers", "2")), env=cli_env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "[worker 0]" in r.stdout and "[worker 1]" in r.stdout
    study = load(storage, "jr")
    assert sum(t.state in DONE for t in study.trials) == 4
    check_complete_trials(study)
    assert sum("baseline" in t.user_attrs for t in study.trials) == 3
    assert (tmp_path / "jr.html").exists()
    # each worker process registered and said so; every trial names the one that ran it
    said = re.findall(r"^\[worker \d\] worker [^:]+:(\d+): .*\b2 live workers of study jr on this host", r.stdout, re.M)
    assert len(said) == 2
    assert {t.user_attrs["worker_pid"] for t in study.trials} <= {int(pid) for pid in said}


def test_parallel_workers_refuse_sqlite(cli_env, tmp_path):
    r = subprocess.run(cli(*study_args(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", "sq", 2, "--workers", "2")),
                       env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "SQLite, which is not for parallel workers" in r.stderr
