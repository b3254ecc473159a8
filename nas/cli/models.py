"""`cost` and `train`: one architecture at a time."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nas.cli.app import app, console
from nas.cli.options import ArchOptions, CacheDir, Device, Threads, use_threads, with_options, within, within_data
from nas.model.arch import ArchConfig
from nas.training.recipe import TrainConfig


@app.command()
@with_options
def cost(
    arch_opts: ArchOptions,
    error: Annotated[float | None, typer.Option(min=0.0, help="A pixel error, to print the resulting score.")] = None,
) -> None:
    """Print an architecture's exact cost: thop GFLOPs, MParams and torch's true GMACs (and, with
    --error, its score GFLOPs x MParams x exp(error))."""
    arch = arch_opts.arch()  # bad options fail before torch is imported
    from nas.model.cost import count_cost, score

    c = count_cost(arch)
    table = Table(title=arch.short())
    for col in ("GFLOPs (thop)", "MParams", "true GMACs (torch)", "GFLOPs x MParams"):
        table.add_column(col, justify="right")
    row = [f"{c.gflops:.6f}", f"{c.mparams:.6f}", f"{c.true_gmacs:.6f}", f"{c.cost:.6f}"]
    if error is not None:
        table.add_column(f"score @ {error} px", justify="right")
        row.append(f"{score(c.gflops, c.mparams, error):.4g}")
    table.add_row(*row)
    console.print(table)


@dataclass(frozen=True)
class ProxyRunOptions:
    """`train`'s run: the proxy recipe (TrainConfig's defaults) on built-in synthetic hands."""

    train_size: Annotated[int, typer.Option(**within(ArchConfig, "input_size"),
                                            help="Training resolution (errors scaled to --input-size).")] = 128
    images: Annotated[int, typer.Option(min=2, help="Synthetic training images.")] = 2000
    val_images: Annotated[int, typer.Option(min=1, help="Synthetic validation images.")] = 500
    epochs: Annotated[int, typer.Option(**within(TrainConfig, "epochs"), help="Epochs.")] = TrainConfig.epochs
    batch_size: Annotated[int, typer.Option(**within(TrainConfig, "batch_size"), help="Batch size.")
                          ] = TrainConfig.batch_size
    aug: Annotated[int, typer.Option(**within(TrainConfig, "aug_multiplier"),
                                     help="Augmentation multiplier: passes per epoch, freshly augmented.")
                   ] = TrainConfig.aug_multiplier
    loss: Annotated[str, typer.Option(help="dsnt, integral, or mse (the seed's).")] = TrainConfig.loss
    lr: Annotated[float, typer.Option(**within(TrainConfig, "lr"), help="Initial learning rate (cosine to --lr-min).")
                  ] = TrainConfig.lr
    lr_min: Annotated[float, typer.Option(**within(TrainConfig, "lr_min"), help="Final learning rate, <= --lr.")
                      ] = TrainConfig.lr_min
    device: Device = TrainConfig.device
    seed: Annotated[int, typer.Option(**within_data("seed"), help="Seed for data and training.")] = TrainConfig.seed
    cache_dir: CacheDir = None
    threads: Threads = None

    def recipe(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, lr_min=self.lr_min,
                           aug_multiplier=self.aug, loss=self.loss, device=self.device, seed=self.seed)


@app.command("train")
@with_options
def train_cmd(
    arch_opts: ArchOptions,
    run: ProxyRunOptions,
    out: Annotated[Path | None, typer.Option(help="Write the result as JSON here.")] = None,
) -> None:
    """Train one architecture on the built-in synthetic hands (a proxy run, like a study trial) and
    print its cost, error and score."""
    arch, recipe = arch_opts.arch(), run.recipe()  # bad options fail before torch is imported
    from nas.cli.progress import TrainProgress, render_progress
    from nas.data import DataSpec, load_for_space
    from nas.search.proxy.scratch import evaluate_candidate
    from nas.training.device import resolve_device

    resolve_device(run.device)  # a bad --device fails before the data is rendered
    use_threads(run.threads)  # and a bad HANDKP_THREADS
    with render_progress(console, "synthetic hands", run.images + run.val_images) as advance:
        train_data, val_data = load_for_space(DataSpec(seed=run.seed), run.images, run.val_images, run.train_size,
                                              run.cache_dir, advance)
    with TrainProgress(console, recipe.epochs) as prog:
        result = evaluate_candidate(arch, recipe, train_data, val_data, on_epoch=prog.epoch, on_step=prog.step)
    _print_result(result)
    if out is not None:
        from nas.io import write_json_atomic

        write_json_atomic(out, result.to_dict())
        console.print(f"result written to {out}")


def _print_result(r) -> None:
    est = " (estimate)" if r.estimate else ""
    table = Table(title=f"{r.arch.short()} @ {r.arch.input_size}px")
    for col in ("GFLOPs", "MParams", "true GMACs", f"px error{est}", "PCK@0.2", "score", "img/s"):
        table.add_column(col, justify="right")
    t = r.training
    table.add_row(
        f"{r.cost.gflops:.4f}", f"{r.cost.mparams:.4f}", f"{r.cost.true_gmacs:.4f}", f"{r.px_error:.3f}",
        f"{t.pck:.3f}", f"{r.score:.4g}", f"{t.images_per_s:.0f}",
    )
    console.print(table)
