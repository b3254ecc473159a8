"""`data synth` and `data info`: dataset tools."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nas.cli.app import app, console
from nas.cli.hooks import _say_format
from nas.cli.options import CacheDir, DataSeed, FormatOpt, MaxBad
from nas.model.arch import INPUT_SIZE_RANGE

data_app = typer.Typer(help="Dataset tools: write an example dataset, check and cache a dataset.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write labels.csv and images/ into.")],
    count: Annotated[int, typer.Option(min=1, help="Number of images.")] = 200,
    size: Annotated[int, typer.Option(min=INPUT_SIZE_RANGE[0], max=INPUT_SIZE_RANGE[1],
                                      help="Image side in pixels.")] = 224,
    seed: Annotated[int, typer.Option(min=0, help="Renderer seed.")] = 0,
) -> None:
    """Write the built-in synthetic hands in the CSV format (labels.csv + images/*.png): a complete
    example of the simplest dataset format, usable with --data."""
    from nas.cli.progress import render_progress
    from nas.data.export import write_synthetic_csv

    with render_progress(console, "writing", count) as advance:
        path = write_synthetic_csv(out, count, size, seed, advance)
    console.print(f"{count} images and their keypoints: {path}")


@data_app.command("info")
def data_info(
    path: Annotated[Path, typer.Argument(help="Dataset file or folder.")],
    fmt: FormatOpt = "auto",
    size: Annotated[int, typer.Option(min=INPUT_SIZE_RANGE[0], max=INPUT_SIZE_RANGE[1],
                                      help="Input size to decode at (cached).")] = 224,
    max_bad: MaxBad = 0.01,
    seed: DataSeed = 0,
    cache_dir: CacheDir = None,
) -> None:
    """Read, check, decode and cache a dataset; print its format, size, train/val/test split and
    cache folder. Fails (exit 2) when more than --max-bad of its images cannot be read."""
    from nas.cli.progress import render_progress
    from nas.data.loader import load_dataset, split_indices

    with render_progress(console, f"decoding {path}", 0) as advance:
        loaded = load_dataset(path, fmt, size, cache_dir, max_bad, progress=advance, on_format=_say_format)
    parts = split_indices(loaded.splits, seed)
    console.print(f"{len(loaded.data)} hands at {size}px ({'from cache' if loaded.from_cache else 'decoded'}), "
                  f"{loaded.skipped} unreadable image(s) skipped; split train {len(parts['train'])} / val "
                  f"{len(parts['val'])} / test {len(parts['test'])}; cache {loaded.cache}")
