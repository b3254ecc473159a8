"""`handkp-search` command line: thin Typer commands over the library.

Library code raises typed errors (`nas.errors.NasError`); here they become one line on stderr and
exit code 2 (`--debug` shows the traceback instead).
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.table import Table

from nas.errors import NasError

app = typer.Typer(
    name="handkp-search",
    help="Search small 2D hand-keypoint models ranked by GFLOPs x MParams x exp(px error).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output (CI logs, files) gets a wide console so tables are not squeezed to 80 columns
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    _state["debug"] = debug


# --- shared option types ---------------------------------------------------------------------
Backbone = Annotated[str, typer.Option(help="mobilenetv2 or mobilenetv3_small.")]
BackboneWidth = Annotated[float, typer.Option(help="Backbone width multiplier in [0.25, 1.5].")]
HeadDepth = Annotated[int, typer.Option(help="Depthwise-separable residual blocks in the head.")]
HeadWidth = Annotated[float, typer.Option(help="Head channels as a multiple of 256.")]
InputSize = Annotated[int, typer.Option(help="Deployed input size; cost is always counted here.")]
ArchFile = Annotated[
    Path | None, typer.Option("--arch", help="Architecture YAML; overrides the architecture options.")
]


def _arch(arch_file, backbone, backbone_width, head_depth, head_width, input_size):
    from nas.arch import ArchConfig
    from nas.spec import ArchSpec

    if arch_file is not None:
        return ArchSpec.load(arch_file).arch
    return ArchConfig(backbone, backbone_width, head_depth, head_width, input_size)


@app.command()
def cost(
    backbone: Backbone = "mobilenetv3_small",
    backbone_width: BackboneWidth = 1.0,
    head_depth: HeadDepth = 2,
    head_width: HeadWidth = 1.0,
    input_size: InputSize = 224,
    arch_file: ArchFile = None,
    error: Annotated[float | None, typer.Option(help="A pixel error, to print the resulting score.")] = None,
) -> None:
    """Print an architecture's exact cost: thop GFLOPs, MParams and torch's true GMACs."""
    from nas.cost import count_cost, score

    arch = _arch(arch_file, backbone, backbone_width, head_depth, head_width, input_size)
    c = count_cost(arch)
    table = Table(title=arch.short())
    for col in ("GFLOPs (thop)", "MParams", "true GMACs (torch)", "GFLOPs x MParams"):
        table.add_column(col, justify="right")
    row = [f"{c.gflops:.6f}", f"{c.mparams:.6f}", f"{c.true_gmacs:.6f}", f"{c.cost:.6f}"]
    if error is not None:
        table.add_column(f"score @ {error} px", justify="right")
        row.append(f"{score(c.gflops, c.mparams, error):.4f}")
    table.add_row(*row)
    console.print(table)


@app.command("train")
def train_cmd(
    backbone: Backbone = "mobilenetv3_small",
    backbone_width: BackboneWidth = 1.0,
    head_depth: HeadDepth = 2,
    head_width: HeadWidth = 1.0,
    input_size: InputSize = 224,
    arch_file: ArchFile = None,
    train_size: Annotated[int, typer.Option(help="Training resolution (errors scaled to --input-size).")] = 128,
    images: Annotated[int, typer.Option(help="Synthetic training images.")] = 2000,
    val_images: Annotated[int, typer.Option(help="Synthetic validation images.")] = 500,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 5,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 32,
    aug: Annotated[int, typer.Option(help="Augmentation multiplier: passes per epoch, freshly augmented.")] = 1,
    loss: Annotated[str, typer.Option(help="dsnt (default), integral, or mse (the seed's).")] = "dsnt",
    lr: Annotated[float, typer.Option(help="Initial learning rate (cosine to --lr-min).")] = 4e-3,
    lr_min: Annotated[float, typer.Option(help="Final learning rate.")] = 1e-4,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for data and training.")] = 0,
    cache_dir: Annotated[Path | None, typer.Option(help="Synthetic data cache folder.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the result as JSON here.")] = None,
) -> None:
    """Train one architecture on the built-in synthetic hands and print its cost, error and score."""
    from nas.candidate import evaluate_candidate
    from nas.data import SYNTHETIC, load_for_space
    from nas.progress import TrainProgress, render_progress
    from nas.train import TrainConfig

    arch = _arch(arch_file, backbone, backbone_width, head_depth, head_width, input_size)
    recipe = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, lr_min=lr_min, aug_multiplier=aug,
        loss=loss, device=device, seed=seed,
    )
    with render_progress(console, "synthetic hands", images + val_images) as advance:
        train_data, val_data = load_for_space(SYNTHETIC, images, val_images, train_size, seed, cache_dir, advance)
    with TrainProgress(console, epochs) as prog:
        result = evaluate_candidate(arch, recipe, train_data, val_data, on_epoch=prog.epoch, on_step=prog.step)
    _print_result(result)
    if out is not None:
        from nas.io import write_json_atomic

        write_json_atomic(out, _result_dict(result))
        console.print(f"result written to {out}")


def _result_dict(r) -> dict:
    return {
        "arch": r.arch.to_dict(),
        "recipe": r.recipe.to_dict(),
        "cost": r.cost.to_dict(),
        "px_error": r.px_error,
        "px_error_is_estimate": r.estimate,
        "pck": r.training.pck,
        "auc": r.training.auc,
        "score": r.score,
        "best_epoch": r.training.best_epoch,
        "images_per_s": r.training.images_per_s,
        "train_seconds": r.training.train_seconds,
        "history": [vars(h) for h in r.training.history],
    }


def _print_result(r) -> None:
    est = " (estimate)" if r.estimate else ""
    table = Table(title=f"{r.arch.short()} @ {r.arch.input_size}px")
    for col in ("GFLOPs", "MParams", "true GMACs", f"px error{est}", "PCK@0.2", "score", "img/s"):
        table.add_column(col, justify="right")
    t = r.training
    table.add_row(
        f"{r.cost.gflops:.4f}", f"{r.cost.mparams:.4f}", f"{r.cost.true_gmacs:.4f}", f"{r.px_error:.3f}",
        f"{t.pck:.3f}", f"{r.score:.3f}", f"{t.images_per_s:.0f}",
    )
    console.print(table)


DEFAULT_STORAGE = "sqlite:///reports/studies.db"
StudyName = Annotated[str | None, typer.Option("--study-name", help="Study name (default: the space file's stem).")]
Storage = Annotated[
    str, typer.Option(help="Optuna storage URL; the default file under reports/ resumes on rerun.")
]


class _RichStudyHooks:
    """Bars over trials and over the current trial's epochs (rich), fed by the study's hooks."""

    def __init__(self, progress, trials_task, epochs: int) -> None:
        self.progress, self.trials_task, self.epochs = progress, trials_task, epochs
        self.epoch_task = progress.add_task("  trial", total=epochs, info="")
        self.step_task = progress.add_task("  steps", total=1, info="")

    def trial_started(self, number, arch, baseline) -> None:
        label = f"  trial {number}" + (f" [{baseline}]" if baseline else "")
        self.progress.reset(self.epoch_task, total=self.epochs, description=label, info=arch.short())
        self.progress.reset(self.step_task, total=1)

    def epoch(self, stats) -> None:
        info = f"val {stats.px_error:.2f} px  loss {stats.train_loss:.4f}  {stats.images_per_s:.0f} img/s"
        self.progress.update(self.epoch_task, advance=1, info=info)

    def step(self, done, total) -> None:
        self.progress.update(self.step_task, completed=done, total=total)

    def trial_finished(self, trial) -> None:
        state = trial.state.name.lower()
        s = trial.user_attrs.get("score")
        info = f"last: #{trial.number} {state}" + (f" score {s:.4g}" if s is not None else "")
        self.progress.update(self.trials_task, advance=1 if trial.state.name in ("COMPLETE", "PRUNED") else 0,
                             info=info)


def _load_study_data(space, data: str, cache_dir, fmt: str | None = None, max_bad: float | None = None):
    from nas.data import load_for_space
    from nas.progress import render_progress

    p, d = space.proxy, space.data
    with render_progress(console, f"data: {data}", p.train_images + p.val_images) as advance:
        return load_for_space(data, p.train_images, p.val_images, p.train_size, d.seed, cache_dir, advance,
                              fmt=fmt or d.format, max_bad=d.max_bad if max_bad is None else max_bad,
                              on_format=_say_format)


def _say_format(fmt: str, count: int) -> None:
    console.print(f"dataset format: {fmt} ({count} hands listed)")


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

    from nas.errors import ConfigError, StudyError
    from nas.progress import make_progress
    from nas.report import leaderboard_table, trials_frame, write_report
    from nas.space import load_space
    from nas.storage import is_parallel_safe
    from nas.study import finished_count, open_study, run_study
    from nas.train import resolve_device

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
    from nas.storage import is_parallel_safe

    if not is_parallel_safe(storage):
        return seed
    import os
    import socket
    import zlib

    return seed + zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 1_000_000


class _LineHooks:
    """Plain lines for worker processes (several share one terminal)."""

    def __init__(self, index: int) -> None:
        self.tag = f"[worker {index}]"

    def trial_started(self, number, arch, baseline) -> None:
        print(f"{self.tag} trial {number} started: {arch.short()}" + (f" [{baseline}]" if baseline else ""),
              flush=True)

    def epoch(self, stats) -> None:
        pass

    def step(self, done, total) -> None:
        pass

    def trial_finished(self, trial) -> None:
        s = trial.user_attrs.get("score")
        print(f"{self.tag} trial {trial.number} {trial.state.name.lower()}" + (f" score {s:.4g}" if s else ""),
              flush=True)


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
    from nas.report import write_report
    from nas.study import load_existing_study

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
    from nas.report import leaderboard_table, trials_frame
    from nas.study import load_existing_study

    st = load_existing_study(study_name, storage)
    console.print(leaderboard_table(trials_frame(st), top=top))


# --- pick, retrain, export, predict, fidelity ------------------------------------------------
@app.command("pick")
def pick_cmd(
    study_name: Annotated[str, typer.Option("--study-name", help="Study to pick from.")],
    storage: Storage = DEFAULT_STORAGE,
    trial: Annotated[int | None, typer.Option("--trial", help="Pick this trial number.")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="Pick the K-th best by score (1 = best).")] = None,
    max_gflops: Annotated[float | None, typer.Option(help="Best score with at most this many GFLOPs.")] = None,
    max_mparams: Annotated[float | None, typer.Option(help="Best score with at most this many MParams.")] = None,
    max_error: Annotated[float | None, typer.Option(help="Best score with at most this proxy px error.")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Architecture file (default "
                                             "reports/<study>-trial<N>.yaml).")] = None,
) -> None:
    """Choose an architecture (default: the best score) and write its architecture file: everything
    needed to rebuild the model plus the full training recipe, ready for `retrain`."""
    from nas.pick import Constraints, pick, spec_for_trial
    from nas.study import load_existing_study

    st = load_existing_study(study_name, storage)
    row = pick(st, trial, rank, Constraints(max_gflops, max_mparams, max_error))
    spec = spec_for_trial(st, int(row["number"]), storage)
    path = spec.save(out or Path("reports") / f"{study_name}-trial{int(row['number'])}.yaml")
    table = Table(title=f"study {study_name}: trial {int(row['number'])} (rank {int(row['rank'])} by score)")
    table.add_column("field")
    table.add_column("value", justify="right")
    for k, v in spec.arch.to_dict().items():
        table.add_row(k, str(v))
    for k in ("gflops", "mparams", "px_error", "score"):
        label = {"px_error": "proxy px error" + (" (estimate)" if spec.source.get("px_error_is_estimate") else ""),
                 "score": "proxy score"}.get(k, k)
        table.add_row(label, f"{float(row[k]):.4g}")
    r = spec.recipe
    table.add_row("full recipe", f"{r.epochs} epochs, Adam {r.lr:g} -> {r.lr_min:g}, aug x{r.aug_multiplier}, "
                  f"batch {r.batch_size}, loss {r.loss}")
    console.print(table)
    console.print(f"architecture file: {path}")


class _RichRetrainHooks:
    """Data bar, then epoch + step bars; one printed line per epoch so logs keep the curve."""

    def __init__(self, progress, label: str = "epochs") -> None:
        self.progress, self.label = progress, label
        self.data_task = None
        self.train = None

    def data(self, done: int, total: int) -> None:
        if self.data_task is None:
            self.data_task = self.progress.add_task("data", total=total, info="")
        self.progress.update(self.data_task, completed=done)

    def start(self, first_epoch: int, epochs: int) -> None:
        from nas.progress import TrainProgress

        if self.data_task is not None:
            self.progress.remove_task(self.data_task)
            self.data_task = None
        if self.train is not None:
            self.train.__exit__(None, None, None)
        self.train = TrainProgress(console, epochs, self.progress, self.label, completed=first_epoch - 1)
        if first_epoch > 1:
            self.progress.console.print(f"resuming after epoch {first_epoch - 1} of {epochs}")

    def epoch(self, stats) -> None:
        self.train.epoch(stats)
        self.progress.console.print(
            f"epoch {stats.epoch}: loss {stats.train_loss:.4f}  val {stats.px_error:.3f} px  PCK {stats.pck:.3f}  "
            f"lr {stats.lr:.2e}  {stats.images_per_s:.0f} img/s  {stats.seconds:.0f} s")

    def step(self, done: int, total: int) -> None:
        self.train.step(done, total)

    def close(self) -> None:
        if self.train is not None:
            self.train.__exit__(None, None, None)
            self.train = None


DataOpt = Annotated[str, typer.Option("--data", help="'synthetic' (built in) or a dataset path.")]
FormatOpt = Annotated[str, typer.Option("--format", help="Dataset format: auto, csv, freihand, coco or panoptic.")]
MaxBad = Annotated[float, typer.Option(help="Share of unreadable images tolerated (skipped, listed in a log).")]
TrainImages = Annotated[int, typer.Option(help="Training images.")]
ValImages = Annotated[int, typer.Option(help="Validation images (best-epoch selection).")]
TestImages = Annotated[int, typer.Option(help="Test images (the reported error).")]
DataSeed = Annotated[int, typer.Option("--data-seed", help="Seed of the deterministic train/val/test split.")]
Epochs = Annotated[int | None, typer.Option(help="Epochs (default: the architecture file's recipe).")]
Lr = Annotated[float | None, typer.Option(help="Initial learning rate (default: the recipe's, 5e-4).")]
LrMin = Annotated[float | None, typer.Option(help="Final learning rate (default: the recipe's, 5e-5).")]
BatchSize = Annotated[int | None, typer.Option(help="Batch size (default: the recipe's).")]
Aug = Annotated[int | None, typer.Option("--aug", help="Augmentation multiplier (default: the recipe's).")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
CacheDir = Annotated[Path | None, typer.Option(help="Synthetic data cache folder.")]


def _recipe_overrides(epochs, lr, lr_min, batch_size, aug, device) -> dict:
    given = {"epochs": epochs, "lr": lr, "lr_min": lr_min, "batch_size": batch_size, "aug_multiplier": aug}
    return {**{k: v for k, v in given.items() if v is not None}, "device": device}


@app.command("retrain")
def retrain_cmd(
    arch_file: Annotated[Path, typer.Argument(help="Architecture file from `pick` (or a plain architecture YAML).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (default "
                                             "reports/retrain/<file stem>).")] = None,
    data: DataOpt = "synthetic",
    train_images: TrainImages = 20000,
    val_images: ValImages = 2000,
    test_images: TestImages = 2000,
    data_seed: DataSeed = 0,
    fmt: FormatOpt = "auto",
    max_bad: MaxBad = 0.01,
    epochs: Epochs = None,
    lr: Lr = None,
    lr_min: LrMin = None,
    batch_size: BatchSize = None,
    aug: Aug = None,
    device: Device = "auto",
    restart: Annotated[bool, typer.Option(help="Discard a checkpoint in --out and start over.")] = False,
    cache_dir: CacheDir = None,
) -> None:
    """Train an architecture fully (best-on-validation weights) and write checkpoint, metrics,
    curves and a picture of test predictions. Rerun the same command after an interruption to
    resume from the last finished epoch."""
    from dataclasses import replace

    from nas.progress import make_progress
    from nas.retrain import RetrainData, retrain
    from nas.spec import ArchSpec
    from nas.train import resolve_device

    resolve_device(device)
    spec = ArchSpec.load(arch_file)
    spec = replace(spec, recipe=replace(spec.recipe, **_recipe_overrides(epochs, lr, lr_min, batch_size, aug, device)))
    rdata = RetrainData(data, train_images, val_images, test_images, data_seed, fmt, max_bad)
    out = out or Path("reports") / "retrain" / arch_file.stem
    console.print(f"retraining {spec.arch.short()} @ {spec.arch.input_size}px into {out}")
    progress = make_progress(console)
    hooks = _RichRetrainHooks(progress)
    try:
        with progress:
            result = retrain(spec, rdata, out, restart, cache_dir, hooks)
            hooks.close()
    except KeyboardInterrupt:
        err_console.print(f"interrupted: rerun the same command to resume from the last finished epoch in {out}")
        raise
    _print_metrics(result.metrics, f"{spec.arch.short()} @ {spec.arch.input_size}px (test set)")
    for name, path in result.files.items():
        console.print(f"{name:>11}: {path}")


def _print_metrics(m: dict, title: str) -> None:
    table = Table(title=title)
    for col in ("GFLOPs", "MParams", "true GMACs", "test px error", "PCK@0.2", "AUC 0-30px", "score",
                "best epoch"):
        table.add_column(col, justify="right")
    table.add_row(f"{m['gflops']:.4f}", f"{m['mparams']:.4f}", f"{m['true_gmacs']:.4f}", f"{m['test_px_error']:.3f}",
                  f"{m['test_pck']:.3f}", f"{m['test_auc']:.3f}", f"{m['score']:.4g}",
                  f"{m['best_epoch']} / {m['epochs']}")
    console.print(table)
    if m.get("test_px_error_original") is not None:
        console.print(f"test error in original-image pixels: {m['test_px_error_original']:.3f} px")


@app.command("export")
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `retrain`.")],
    onnx_file: Annotated[Path, typer.Option("--onnx", help="ONNX file to write.")],
    check: Annotated[bool, typer.Option(help="Cross-check with onnxruntime when it is installed.")] = True,
) -> None:
    """Export the checkpoint's best weights to ONNX (dynamic batch axis) and check it against torch."""
    from nas.export import ExportError, check_onnx, export_onnx, onnxruntime_available

    path, model, meta = export_onnx(checkpoint, onnx_file)
    console.print(f"ONNX written: {path} (input 'images' Nx3xSxS float RGB in [0,1], output 'heatmaps'; "
                  f"decode with {meta['handkp.decoder']})")
    if not check:
        return
    if not onnxruntime_available():
        console.print("onnxruntime is not installed: cross-check skipped (pip install 'handkp-search[onnx]')")
        return
    from nas.arch import ArchConfig

    arch = ArchConfig.from_json(meta["handkp.arch"])
    c = check_onnx(path, model, arch.input_size, meta["handkp.loss"])
    console.print(f"onnxruntime vs torch on a batch of {c.batch}: max |heatmap diff| {c.max_abs_heatmap_diff:.2e} "
                  f"(<= {c.heatmap_tolerance:g}), max keypoint diff {c.max_keypoint_diff_px:.2e} px")
    if not c.ok:
        raise ExportError(f"{path}: onnxruntime output differs from torch beyond tolerance")


@app.command("predict")
def predict_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt written by `retrain`.")],
    images: Annotated[Path, typer.Option("--images", help="Folder of images.")],
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV to write: image,x0,y0,...,x20,y20.")],
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 32,
    device: Device = "auto",
) -> None:
    """Predict the 21 keypoints of every image in a folder (original image pixels) into a CSV."""
    from nas.checkpoint import load_trained_model
    from nas.errors import DataError
    from nas.predict import list_images, predict_folder, write_csv
    from nas.progress import make_progress
    from nas.train import resolve_device

    dev = resolve_device(device)
    model, ckpt = load_trained_model(checkpoint)
    total = len(list_images(images))
    progress = make_progress(console)
    with progress:
        task = progress.add_task("images", total=total, info="")
        result = predict_folder(model, ckpt.arch.input_size, ckpt.recipe.loss, images, batch_size, dev,
                                lambda done, _t: progress.update(task, completed=done))
    for name, why in result.skipped:
        err_console.print(f"skipped {images / name}: {why}")
    if not result.predictions:
        raise DataError(f"{images}: no readable image among {total} file(s)")
    path = write_csv(csv_file, result.predictions)
    console.print(f"{len(result.predictions)} image(s) predicted, {len(result.skipped)} skipped: {path}")


@app.command("fidelity")
def fidelity_cmd(
    study_name: Annotated[str, typer.Option("--study-name", help="Study whose proxy to check.")],
    storage: Storage = DEFAULT_STORAGE,
    top: Annotated[int, typer.Option(help="Retrain the K best trials by proxy score.")] = 4,
    random_count: Annotated[int, typer.Option("--random", help="Plus M other complete trials drawn at random.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Folder for the retrains (default "
                                             "reports/fidelity/<study>).")] = None,
    data: DataOpt = "synthetic",
    train_images: TrainImages = 20000,
    val_images: ValImages = 2000,
    test_images: TestImages = 2000,
    data_seed: DataSeed = 0,
    fmt: FormatOpt = "auto",
    max_bad: MaxBad = 0.01,
    epochs: Epochs = None,
    lr: Lr = None,
    lr_min: LrMin = None,
    batch_size: BatchSize = None,
    device: Device = "auto",
    cache_dir: CacheDir = None,
    report: Annotated[Path | None, typer.Option("--report", help="Rewrite this report (default "
                                                "reports/<study>.html).")] = None,
) -> None:
    """Retrain the top K trials (plus M random ones) fully and report how well the proxy ranked
    them: Kendall tau and Spearman rho on the score and on the error. Stored in the study; the
    report shows them. Rerunning resumes unfinished retrains."""
    from nas.fidelity import run_fidelity, select_trials
    from nas.progress import make_progress
    from nas.report import write_report
    from nas.retrain import RetrainData
    from nas.study import load_existing_study
    from nas.train import resolve_device

    resolve_device(device)
    st = load_existing_study(study_name, storage)
    numbers = select_trials(st, top, random_count, seed)
    overrides = _recipe_overrides(epochs, lr, lr_min, batch_size, None, device)
    rdata = RetrainData(data, train_images, val_images, test_images, data_seed, fmt, max_bad)
    out = out or Path("reports") / "fidelity" / study_name
    console.print(f"fidelity of study {study_name}: retraining trials {', '.join(map(str, numbers))} into {out}")
    progress = make_progress(console)
    with progress:
        task = progress.add_task("retrains", total=len(numbers), info="")
        hooks = _RichRetrainHooks(progress, "  epochs")

        def on_trial(i, count, number):
            progress.update(task, completed=i, info=f"trial {number}")

        result = run_fidelity(st, numbers, rdata, out, overrides, cache_dir, hooks, on_trial)
        hooks.close()
        progress.update(task, completed=len(numbers))
    table = Table(title=f"proxy vs full retrain ({len(result.rows)} architectures)")
    for col in ("trial", "architecture", "proxy px", "full px", "proxy score", "full score"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(str(r["number"]) + (f" [{r['baseline']}]" if r["baseline"] else ""), r["arch"],
                      f"{r['proxy_px_error']:.2f}", f"{r['full_px_error']:.2f}", f"{r['proxy_score']:.4g}",
                      f"{r['full_score']:.4g}")
    console.print(table)
    c = result.correlations
    console.print(f"Kendall tau: score {c['kendall_tau_score']:.3f}, error {c['kendall_tau_error']:.3f}; "
                  f"Spearman rho: score {c['spearman_rho_score']:.3f}, error {c['spearman_rho_error']:.3f} "
                  f"(n = {c['n']})")
    html, _csv = write_report(st, report or Path("reports") / f"{study_name}.html")
    console.print(f"report: {html}")


data_app = typer.Typer(help="Dataset tools.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write labels.csv and images/ into.")],
    count: Annotated[int, typer.Option(help="Number of images.")] = 200,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 224,
    seed: Annotated[int, typer.Option(help="Renderer seed.")] = 0,
) -> None:
    """Write the built-in synthetic hands in the CSV format (labels.csv + images/*.png): a complete
    example of the simplest dataset format, usable with --data."""
    from nas.data.export import write_synthetic_csv
    from nas.progress import render_progress

    with render_progress(console, "writing", count) as advance:
        path = write_synthetic_csv(out, count, size, seed, advance)
    console.print(f"{count} images and their keypoints: {path}")


@data_app.command("info")
def data_info(
    path: Annotated[Path, typer.Argument(help="Dataset file or folder.")],
    fmt: FormatOpt = "auto",
    size: Annotated[int, typer.Option(help="Input size to decode at (cached).")] = 224,
    max_bad: MaxBad = 0.01,
    seed: DataSeed = 0,
    cache_dir: CacheDir = None,
) -> None:
    """Read, check, decode and cache a dataset; print its format, size, split and cache folder."""
    from nas.data.loader import load_dataset, split_indices
    from nas.progress import render_progress

    with render_progress(console, f"decoding {path}", 0) as advance:
        loaded = load_dataset(path, fmt, size, cache_dir, max_bad, progress=advance, on_format=_say_format)
    parts = split_indices(loaded.splits, seed)
    console.print(f"{len(loaded.data)} hands at {size}px ({'from cache' if loaded.from_cache else 'decoded'}), "
                  f"{loaded.skipped} unreadable image(s) skipped; split train {len(parts['train'])} / val "
                  f"{len(parts['val'])} / test {len(parts['test'])}; cache {loaded.cache}")


def main() -> None:
    """Console entry point: NasError -> one line on stderr, exit 2; Ctrl-C -> exit 130."""
    try:
        rv = app(standalone_mode=False)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except NasError as exc:
        if _state["debug"]:
            traceback.print_exc()
        else:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["app", "main"]
