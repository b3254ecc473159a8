"""`cost` and `train`: one architecture at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nas.cli.app import app, console
from nas.cli.options import ArchFile, Backbone, BackboneWidth, HeadDepth, HeadWidth, InputSize, _arch


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
    from nas.model.cost import count_cost, score

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
    from nas.cli.progress import TrainProgress, render_progress
    from nas.data import SYNTHETIC, load_for_space
    from nas.search.candidate import evaluate_candidate
    from nas.training.recipe import TrainConfig

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

