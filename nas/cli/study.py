"""`study`, `report` and `trials`: run a search and look at it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nas.cli.app import app, console
from nas.cli.hooks import _LineHooks, _RichStudyHooks, _say_format
from nas.cli.options import DEFAULT_STORAGE, Storage, StudyName


def _load_study_data(space, data: str, cache_dir, fmt: str | None = None, max_bad: float | None = None):
    from nas.cli.progress import render_progress
    from nas.data import load_for_space

    p, d = space.proxy, space.data
    with render_progress(console, f"data: {data}", p.train_images + p.val_images) as advance:
        return load_for_space(data, p.train_images, p.val_images, p.train_size, d.seed, cache_dir, advance,
                              fmt=fmt or d.format, max_bad=d.max_bad if max_bad is None else max_bad,
                              on_format=_say_format)



@app.command()
def study(
    space_file: Annotated[Path, typer.Option("--space", help="Search space YAML.")] = Path("search_spaces/quick.yaml"),
    data: Annotated[
        str | None, typer.Option(help="'synthetic' (built in) or a dataset path; default: the space's.")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Dataset format: auto, csv, freihand, coco or panoptic "
                                 "(default: the space's, auto).")
    ] = None,
    max_bad: Annotated[
        float | None, typer.Option(help="Share of unreadable images tolerated (skipped and listed in a log) "
                                   "before loading fails (default: the space's, 0.01).")
    ] = None,
    trials: Annotated[
        int, typer.Option(help="Finished (complete or pruned) trials the study should hold in total.")
    ] = 12,
    timeout: Annotated[float | None, typer.Option(help="Stop starting new trials after this many seconds.")] = None,
    study_name: StudyName = None,
    storage: Storage = DEFAULT_STORAGE,
    objective: Annotated[
        str,
        typer.Option(help="score: minimise GFLOPs x MParams x exp(px) with TPE and pruning. pareto: minimise "
                     "(GFLOPs, MParams, px) with multi-objective TPE; Optuna cannot prune multi-objective "
                     "trials, so every pareto trial trains to the end."),
    ] = "score",
    seed: Annotated[int, typer.Option(help="Sampler and training seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    cache_dir: Annotated[Path | None, typer.Option(help="Synthetic data cache folder.")] = None,
    report: Annotated[
        Path | None, typer.Option("-o", "--report", help="Report HTML (default reports/<study>.html).")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Worker processes on this machine (needs PostgreSQL or journal storage; with the "
                          "default storage, N > 1 uses journal:///reports/studies.journal).")
    ] = 1,
    worker_index: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Search architectures: each trial's exact cost, a short proxy training, the ranking score.

    Rerunning the same command resumes the study: completed trials are kept and --trials counts
    the study's total. Started on several machines (or with --workers) against one PostgreSQL or
    journal storage, the processes cooperate on one study.
    """
    import optuna

    from nas.cli.leaderboard import leaderboard_table
    from nas.cli.progress import make_progress
    from nas.errors import ConfigError, StudyError
    from nas.report.page import trials_frame, write_report
    from nas.search.space import load_space
    from nas.search.storage import is_parallel_safe
    from nas.search.study import finished_count, open_study, run_study
    from nas.training.device import resolve_device

    space = load_space(space_file)
    resolve_device(device)  # fail early on a bad --device
    name = study_name or space_file.stem
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be >= 1")
    if workers > 1 and not is_parallel_safe(storage):
        if storage != DEFAULT_STORAGE:
            raise StudyError(f"--workers {workers}: {storage} is SQLite, which is not for parallel workers; use "
                             "--storage postgresql+psycopg://USER@HOST/DB or journal:///reports/studies.journal")
        storage = DEFAULT_JOURNAL
        console.print(f"{workers} workers: SQLite is not for parallel work, using {storage} "
                      "(pass it as --storage to report, trials and pick)")
    _ensure_sqlite_dir(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_study(name, storage, objective, space, _sampler_seed(seed, storage, worker_index))
    train_data, val_data = _load_study_data(space, data or space.data.source, cache_dir, fmt, max_bad)
    done = finished_count(st)
    if worker_index is not None:  # one of --workers' processes: a line per trial, no report
        run_study(st, space, trials, train_data, val_data, timeout, device, seed, _LineHooks(worker_index),
                  storage_url=storage)
        return
    console.print(f"study [bold]{name}[/] in {storage}: {done} finished trial(s), target {trials}")
    if workers > 1:  # each worker enqueues the baselines itself, under the storage lock
        child = [
            "study", "--space", str(space_file), "--trials", str(trials), "--study-name", name, "--storage", storage,
            "--objective", objective, "--seed", str(seed), "--device", device, "--data", data or space.data.source,
        ]
        for opt, value in (("--format", fmt), ("--max-bad", max_bad), ("--timeout", timeout),
                           ("--cache-dir", cache_dir)):
            if value is not None:
                child += [opt, str(value)]
        _run_workers(child, workers)
        st = open_study(name, storage, objective, space, seed)
    else:
        progress = make_progress(console)
        with progress:
            task = progress.add_task("trials", total=trials, completed=min(done, trials), info="")
            hooks = _RichStudyHooks(progress, task, space.proxy.epochs)
            run_study(st, space, trials, train_data, val_data, timeout, device, seed, hooks, storage_url=storage)
    df = trials_frame(st)
    console.print(leaderboard_table(df, top=15))
    html, csv = write_report(st, report or Path("reports") / f"{name}.html")
    console.print(f"report: {html}  table: {csv}")


DEFAULT_JOURNAL = "journal:///reports/studies.journal"


def _sampler_seed(seed: int, storage: str, worker_index: int | None) -> int:
    """Workers sharing a study must not draw the same random start-up trials: each gets its own
    sampler seed (by --workers index, else by host and process). A lone SQLite process keeps `seed`."""
    if worker_index is not None:
        return seed + 1000 * (worker_index + 1)
    from nas.search.storage import is_parallel_safe

    if not is_parallel_safe(storage):
        return seed
    import os
    import socket
    import zlib

    return seed + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000


def _run_workers(args: list[str], workers: int) -> None:
    """Start `workers` copies of this command as worker processes (threads split between them), wait
    for all; Ctrl-C reaches them (each records its trial as interrupted) and exits 130."""
    import os
    import signal
    import subprocess

    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    exe = [sys.executable, "-m", "nas"]
    procs = [subprocess.Popen([*exe, *args, "--worker-index", str(i)], env=env) for i in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    from nas.errors import StudyError

    bad = [(i, c) for i, c in enumerate(codes) if c != 0]
    if bad:
        raise StudyError("worker(s) " + ", ".join(f"{i} exited with {c}" for i, c in bad))


def _ensure_sqlite_dir(storage: str) -> None:
    """Create the folder of a relative/absolute sqlite file so the default storage just works."""
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        Path(storage[len(prefix):]).parent.mkdir(parents=True, exist_ok=True)



@app.command("report")
def report_cmd(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to report.")],
    storage: Storage = DEFAULT_STORAGE,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="HTML file (default reports/<study>.html).")
    ] = None,
) -> None:
    """Write the self-contained Pareto HTML report (and a CSV of the trials beside it)."""
    from nas.report.page import write_report
    from nas.search.study import load_existing_study

    st = load_existing_study(study_name, storage)
    html, csv = write_report(st, output or Path("reports") / f"{study_name}.html")
    console.print(f"report: {html}  table: {csv}")


@app.command()
def trials(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to list.")],
    storage: Storage = DEFAULT_STORAGE,
    top: Annotated[int | None, typer.Option(help="Show only the best N.")] = None,
) -> None:
    """Print the leaderboard (complete trials ranked by score)."""
    from nas.cli.leaderboard import leaderboard_table
    from nas.report.page import trials_frame
    from nas.search.study import load_existing_study

    st = load_existing_study(study_name, storage)
    console.print(leaderboard_table(trials_frame(st), top=top))


# --- pick, retrain, export, predict, fidelity ------------------------------------------------
