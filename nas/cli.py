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

    if arch_file is not None:
        return ArchConfig.load(arch_file)
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


def _load_study_data(space, data: str, cache_dir):
    from nas.data import load_for_space
    from nas.progress import render_progress

    p = space.proxy
    with render_progress(console, f"data: {data}", p.train_images + p.val_images) as advance:
        return load_for_space(data, p.train_images, p.val_images, p.train_size, space.data.seed, cache_dir, advance)


@app.command()
def study(
    space_file: Annotated[Path, typer.Option("--space", help="Search space YAML.")] = Path("search_spaces/quick.yaml"),
    data: Annotated[
        str | None, typer.Option(help="'synthetic' (built in) or a dataset path; default: the space's.")
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
) -> None:
    """Search architectures: each trial's exact cost, a short proxy training, the ranking score.

    Rerunning the same command resumes the study: completed trials are kept and --trials counts
    the study's total.
    """
    import optuna

    from nas.progress import make_progress
    from nas.report import leaderboard_table, trials_frame, write_report
    from nas.space import load_space
    from nas.study import finished_count, open_study, run_study
    from nas.train import resolve_device

    space = load_space(space_file)
    resolve_device(device)  # fail early on a bad --device
    name = study_name or space_file.stem
    _ensure_sqlite_dir(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_study(name, storage, objective, space, seed)
    train_data, val_data = _load_study_data(space, data or space.data.source, cache_dir)
    done = finished_count(st)
    console.print(f"study [bold]{name}[/] in {storage}: {done} finished trial(s), target {trials}")
    progress = make_progress(console)
    with progress:
        task = progress.add_task("trials", total=trials, completed=min(done, trials), info="")
        hooks = _RichStudyHooks(progress, task, space.proxy.epochs)
        run_study(st, space, trials, train_data, val_data, timeout, device, seed, hooks)
    df = trials_frame(st)
    console.print(leaderboard_table(df, top=15))
    html, csv = write_report(st, report or Path("reports") / f"{name}.html")
    console.print(f"report: {html}  table: {csv}")


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
