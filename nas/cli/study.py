"""`study`, `report` and `trials`: run a search and look at it."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nas.cli.app import app, console
from nas.cli.hooks import LineHooks, RichStudyHooks, _say_format
from nas.cli.options import DEFAULT_STORAGE, CacheDir, Device, Storage, StudyName, Threads, within, within_data
from nas.errors import ConfigError
from nas.search.space import SearchSettings

if TYPE_CHECKING:
    from nas.search import Search, SearchSpace, StudyHooks, StudyOptions

SpaceFile = Annotated[Path, typer.Option("--space", help="Search space YAML, or 'auto': search_spaces/gpu.yaml "
                                          "(224 px) when the device is CUDA, else search_spaces/quick.yaml.")]
StudyData = Annotated[str | None, typer.Option(help="'synthetic' (built in) or a dataset path; default: the space's.")]
StudyFormat = Annotated[str | None, typer.Option("--format", help="Dataset format: auto, csv, freihand, coco or "
                                                 "panoptic (default: the space's, auto).")]
StudyMaxBad = Annotated[float | None, typer.Option(
    **within_data("max_bad"),
    help="Share of unreadable images tolerated (skipped and listed in a log) before loading fails (default: the "
         "space's, 0.01).")]
Trials = Annotated[int, typer.Option(min=1, help="Finished (complete or pruned) trials the study should hold in "
                                     "total.")]
Timeout = Annotated[float | None, typer.Option(min=0.0, help="Stop starting new trials after this many seconds.")]
Objective = Annotated[str, typer.Option(help="score: minimise GFLOPs x MParams x exp(px) with TPE and pruning. "
                                        "pareto: minimise (GFLOPs, MParams, px) with multi-objective TPE; Optuna "
                                        "cannot prune multi-objective trials, so every pareto trial trains to the "
                                        "end.")]
Seed = Annotated[int, typer.Option(min=0, help="Sampler and training seed.")]
Report = Annotated[Path | None, typer.Option("-o", "--report", help="Report HTML (default reports/<study>.html).")]
Repeats = Annotated[int | None, typer.Option(
    **within(SearchSettings, "repeats"),
    help="Train the first K baselines once more with another seed, to measure the proxy's seed noise (the report's "
         "'Proxy noise' section); repeats count towards --trials and are not ranked as candidates (default: the "
         "space's search.repeats, 0).")]
ProxyMode = Annotated[str | None, typer.Option(
    "--proxy", help="How a trial estimates its error: scratch (train it from scratch, the proxy recipe) or supernet "
                    "(slice it out of one shared parent trained once per study; the space's supernet: section) "
                    "(default: the space's proxy: mode).")]
Artifacts = Annotated[Path | None, typer.Option(
    "--artifacts", help="Folder of the shared supernet parents, one every worker can read (default: beside the "
                        "storage file, else reports/artifacts).")]
Workers = Annotated[int, typer.Option(min=1, help="Worker processes on this machine, splitting its cores (needs "
                                      "PostgreSQL or journal storage; with the default storage, N > 1 uses "
                                      "journal:///reports/studies.journal).")]


@app.command()
def study(space_file: SpaceFile = Path("search_spaces/quick.yaml"), data: StudyData = None, fmt: StudyFormat = None,
          max_bad: StudyMaxBad = None, trials: Trials = 12, timeout: Timeout = None, study_name: StudyName = None,
          storage: Storage = DEFAULT_STORAGE, objective: Objective = "score", seed: Seed = 0, device: Device = "auto",
          cache_dir: CacheDir = None, report: Report = None, workers: Workers = 1, threads: Threads = None,
          repeats: Repeats = None, proxy: ProxyMode = None, artifacts: Artifacts = None) -> None:
    """Search architectures: each trial's exact cost, a short proxy training, the ranking score.

    Rerunning the same command resumes the study: completed trials are kept and --trials counts
    the study's total. Started on several machines (or several times on one, or with --workers)
    against one PostgreSQL or journal storage, the processes cooperate on one study; those on one
    machine split its cores.
    """
    _check_quickly(space_file, objective, proxy)
    import optuna

    from nas import search
    from nas.training.device import resolve_device
    from nas.training.threads import fixed_threads

    dev = resolve_device(device)  # fail early on a bad --device
    space_file = search.auto_space(space_file, dev)
    console.print(f"space {space_file} on {dev}" + _workers_note(dev, workers))
    shared = search.storage_for_workers(storage, workers)
    if shared != storage:
        console.print(f"{workers} workers: SQLite is not for parallel work, using {shared} "
                      "(pass it as --storage to report, trials and pick)")
    options = search.StudyOptions(
        space_file=space_file, study_name=study_name or space_file.stem, storage=shared, objective=objective,
        trials=trials, timeout=timeout, data=data, fmt=fmt, max_bad=max_bad, seed=seed, device=device,
        cache_dir=cache_dir, threads=fixed_threads(threads), repeats=repeats, proxy=proxy, artifacts=artifacts)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    here = _set_up(options)  # also fills the data cache the worker processes read
    done = search.finished_count(here.study)
    console.print(f"study [bold]{options.study_name}[/] in {shared}: {done} finished trial(s), target {trials}"
                  + (f", no new trial after {timeout:g} s" if timeout is not None else ""))
    if here.space.aug_range() != here.space.choices.aug_multiplier:  # only where the proxy cannot see it
        console.print(f"aug_multiplier: not searched (a supernet proxy without fine-tuning does not see it); "
                      f"every trial takes {here.space.aug_range().low}")
    if workers > 1:  # each worker enqueues the baselines itself, under the storage lock
        search.run_workers(options, workers, LineHooks)
    else:
        with _study_hooks(here.space, trials, done) as hooks:
            search.run_search(here, hooks)
    _leaderboard_and_report(here.study, report or Path("reports") / f"{options.study_name}.html")


def _check_quickly(space_file: Path, objective: str, proxy: str | None) -> None:
    """The options checked before torch is imported, so a bad one fails in a moment."""
    from nas import search

    if proxy is not None and proxy not in search.PROXY_MODES:
        raise ConfigError(f"--proxy: {proxy!r} is not one of {', '.join(search.PROXY_MODES)}")
    search.check_objective(objective)
    if str(space_file) != "auto":
        search.load_space(space_file)


def _workers_note(dev, workers: int) -> str:
    """How the workers use the device, for the study's first line."""
    if dev.type != "cuda":
        return f", {workers} worker processes splitting the cores" if workers > 1 else ""
    import torch

    gpus = torch.cuda.device_count()
    if gpus > 1 and dev.index is None:
        return f", {workers} worker process(es) over {gpus} GPUs (worker i on cuda:(i mod {gpus}))"
    return (f", {workers} worker process(es) sharing it (each its own captured training step; --workers N to "
            f"change, docs/scaling.md)")


def _set_up(options: StudyOptions) -> Search:
    """The search set up in this process, a bar over the data loading on a terminal."""
    from nas import search
    from nas.cli.progress import render_progress

    if not console.is_terminal:
        return search.set_up_search(options, on_format=_say_format)
    label = f"data: {options.data or 'the data of ' + options.space_file.name}"
    with render_progress(console, label, 0) as bar:  # the loader gives the total with each count
        return search.set_up_search(options, progress=bar, on_format=_say_format)


@contextlib.contextmanager
def _study_hooks(space: SearchSpace, trials: int, done: int) -> Iterator[StudyHooks]:
    """Rich bars on a terminal; one plain line per finished trial otherwise (a log file, a cluster job)."""
    if not console.is_terminal:
        yield LineHooks()
        return
    from nas.cli.progress import make_progress

    progress = make_progress(console)
    with progress:
        task = progress.add_task("trials", total=trials, completed=min(done, trials), info="")
        yield RichStudyHooks(progress, task, space.proxy.recipe.epochs)


def _print_noise(df) -> None:
    """The proxy-noise verdict under the leaderboard, when the study has repeats."""
    from nas.report.noise import study_noise
    from nas.search.noise import noise_verdict

    noise = study_noise(df)
    if noise is not None:
        console.print(f"proxy noise: {noise_verdict(noise)} (seed noise {noise.within:.3g} px, spread across "
                      f"architectures {noise.across:.3g} px)", markup=False, highlight=False, soft_wrap=True)


def _leaderboard_and_report(st, path: Path) -> None:
    from nas.cli.leaderboard import show_leaderboard
    from nas.report import trials_frame, write_report
    from nas.report.ranking import blind_line, summary

    df = trials_frame(st)
    show_leaderboard(console, df, top=15)
    _print_noise(df)
    blind = blind_line(summary(df)["blind"])
    if blind:
        console.print(blind)
    html, csv = write_report(st, path)
    console.print(f"report: {html}  table: {csv}")


@app.command("report")
def report_cmd(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to report.")],
    storage: Storage = DEFAULT_STORAGE,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="HTML file (default reports/<study>.html).")
    ] = None,
) -> None:
    """Write the self-contained Pareto HTML report (and a CSV of the trials beside it)."""
    from nas.report import write_report
    from nas.search import load_existing_study

    st = load_existing_study(study_name, storage)
    html, csv = write_report(st, output or Path("reports") / f"{study_name}.html")
    console.print(f"report: {html}  table: {csv}")


@app.command()
def trials(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to list.")],
    storage: Storage = DEFAULT_STORAGE,
    top: Annotated[int | None, typer.Option(min=1, help="Show only the best N.")] = None,
) -> None:
    """Print the leaderboard (complete trials ranked by score)."""
    from nas.cli.leaderboard import show_leaderboard
    from nas.report import trials_frame
    from nas.search import load_existing_study

    st = load_existing_study(study_name, storage)
    df = trials_frame(st)
    show_leaderboard(console, df, top=top)
    _print_noise(df)
