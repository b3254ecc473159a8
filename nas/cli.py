"""`handkp-search` command line: thin Typer commands over the library.

Library code raises typed errors (`nas.errors.NasError`); here they become one line on stderr and
exit code 2 (`--debug` shows the traceback instead).
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

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
console = Console()
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
    Optional[Path], typer.Option("--arch", help="Architecture YAML; overrides the architecture options.")
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
    error: Annotated[Optional[float], typer.Option(help="A pixel error, to print the resulting score.")] = None,
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
    lr: Annotated[float, typer.Option(help="Initial learning rate (cosine to --lr-min).")] = 5e-4,
    lr_min: Annotated[float, typer.Option(help="Final learning rate.")] = 5e-5,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for data and training.")] = 0,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Synthetic data cache folder.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the result as JSON here.")] = None,
) -> None:
    """Train one architecture on the built-in synthetic hands and print its cost, error and score."""
    from nas.candidate import evaluate_candidate
    from nas.data import load_synthetic
    from nas.progress import TrainProgress, render_progress
    from nas.train import TrainConfig

    arch = _arch(arch_file, backbone, backbone_width, head_depth, head_width, input_size)
    recipe = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, lr_min=lr_min, aug_multiplier=aug,
        loss=loss, device=device, seed=seed,
    )
    with render_progress(console, "rendering synthetic hands", images + val_images) as advance:
        train_data = load_synthetic(images, train_size, seed, cache_dir, progress=advance)
        val_data = load_synthetic(val_images, train_size, seed + 1, cache_dir, progress=advance)
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
