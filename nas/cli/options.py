"""Option types shared by several commands, and the helpers that turn options into library objects."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Backbone = Annotated[str, typer.Option(help="mobilenetv2 or mobilenetv3_small.")]
BackboneWidth = Annotated[float, typer.Option(help="Backbone width multiplier in [0.25, 1.5].")]
HeadDepth = Annotated[int, typer.Option(help="Depthwise-separable residual blocks in the head.")]
HeadWidth = Annotated[float, typer.Option(help="Head channels as a multiple of 256.")]
InputSize = Annotated[int, typer.Option(help="Deployed input size; cost is always counted here.")]
ArchFile = Annotated[
    Path | None, typer.Option("--arch", help="Architecture YAML; overrides the architecture options.")
]


def _arch(arch_file, backbone, backbone_width, head_depth, head_width, input_size):
    from nas.deploy.spec import ArchSpec
    from nas.model.arch import ArchConfig

    if arch_file is not None:
        return ArchSpec.load(arch_file).arch
    return ArchConfig(backbone, backbone_width, head_depth, head_width, input_size)


DEFAULT_STORAGE = "sqlite:///reports/studies.db"
StudyName = Annotated[str | None, typer.Option("--study-name", help="Study name (default: the space file's stem).")]
Storage = Annotated[
    str, typer.Option(help="Optuna storage URL; the default file under reports/ resumes on rerun.")
]


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
