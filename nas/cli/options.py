"""Options shared by several commands, declared once with their bounds, and the option groups that
turn them into library objects.

An option group is a frozen dataclass whose fields are Typer options. A command takes it as one
parameter (`opts: RetrainOptions`) and `@with_options` spreads its fields into the signature Typer
reads, so `--help` lists them like any other option, then packs the parsed values back into the
dataclass. Every numeric option carries `min=`/`max=`: a bad value fails while the command line is
parsed, before any data is rendered or any study or file is touched.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nas.config import field_bounds
from nas.data.spec import DataSpec
from nas.model.arch import ArchConfig
from nas.training.recipe import TrainConfig

if TYPE_CHECKING:
    from nas.training.threads import ThreadChoice

__all__ = ["with_options", "within", "within_data", "use_threads", "ArchOptions", "RetrainOptions", "Threads",
           "DEFAULT_STORAGE", "DATA_BOUNDS"]


def within(cls: type, name: str) -> dict[str, float]:
    """`min=`/`max=` of an option that sets `cls.name`: the bounds the library declares for it."""
    lo, hi = field_bounds(cls, name)
    return {"min": lo, "max": hi}


# `DataSpec`'s declared bounds (`nas.data.spec` imports no torch, so `--help` stays quick)
DATA_BOUNDS = {name: field_bounds(DataSpec, name)
               for name in ("train_images", "val_images", "test_images", "seed", "max_bad")}


def within_data(name: str) -> dict[str, float]:
    """`min=`/`max=` of an option that sets `DataSpec.name`."""
    lo, hi = DATA_BOUNDS[name]
    return {"min": lo, "max": hi}


# --- architecture --------------------------------------------------------------------------------
Backbone = Annotated[str, typer.Option(help="Backbone: a registered one (mobilenetv2, mobilenetv3_small, ...).")]
BackboneWidth = Annotated[float, typer.Option(**within(ArchConfig, "backbone_width"),
                                              help="Backbone width multiplier.")]
HeadDepth = Annotated[int, typer.Option(**within(ArchConfig, "head_depth"),
                                        help="Depthwise-separable residual blocks in the head.")]
HeadWidth = Annotated[float, typer.Option(**within(ArchConfig, "head_width"),
                                          help="Head channels as a multiple of 256.")]
InputSize = Annotated[int, typer.Option(**within(ArchConfig, "input_size"),
                                        help="Deployed input size (a multiple of 16); cost is always counted here.")]
ArchFile = Annotated[
    Path | None, typer.Option("--arch", help="Architecture YAML (from `pick`, or plain); overrides the options above.")
]

# --- studies -------------------------------------------------------------------------------------
DEFAULT_STORAGE = "sqlite:///reports/studies.db"
StudyName = Annotated[str | None, typer.Option("--study-name", help="Study name (default: the space file's stem).")]
Storage = Annotated[
    str, typer.Option(help="Optuna storage URL; the default file under reports/ resumes on rerun.")
]

# --- data ----------------------------------------------------------------------------------------
DataOpt = Annotated[str, typer.Option("--data", help="'synthetic' (built in) or a dataset path.")]
FormatOpt = Annotated[str, typer.Option("--format", help="Dataset format: auto, csv, freihand, coco or panoptic.")]
MaxBad = Annotated[float, typer.Option(**within_data("max_bad"),
                                       help="Share of unreadable images tolerated (skipped, listed in a log).")]
TrainImages = Annotated[int, typer.Option(**within_data("train_images"), help="Training images.")]
ValImages = Annotated[int, typer.Option(**within_data("val_images"), help="Validation images (best-epoch selection).")]
TestImages = Annotated[int, typer.Option(**within_data("test_images"), help="Test images (the reported error).")]
DataSeed = Annotated[int, typer.Option("--data-seed", **within_data("seed"),
                                       help="Seed of the deterministic train/val/test split.")]
CacheDir = Annotated[Path | None, typer.Option(help="Synthetic data cache folder.")]

# --- training recipe overrides (None: keep the architecture file's recipe) ------------------------
Epochs = Annotated[int | None, typer.Option(**within(TrainConfig, "epochs"),
                                            help="Epochs (default: the architecture file's recipe).")]
Lr = Annotated[float | None, typer.Option(**within(TrainConfig, "lr"),
                                          help="Initial learning rate (default: the recipe's).")]
LrMin = Annotated[float | None, typer.Option(**within(TrainConfig, "lr_min"),
                                             help="Final learning rate, <= --lr (default: the recipe's).")]
BatchSize = Annotated[int | None, typer.Option(**within(TrainConfig, "batch_size"),
                                               help="Batch size (default: the recipe's).")]
Aug = Annotated[int | None, typer.Option("--aug", **within(TrainConfig, "aug_multiplier"),
                                         help="Augmentation multiplier: passes per epoch, freshly augmented "
                                         "(default: the recipe's).")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
Threads = Annotated[int | None, typer.Option(min=1, help="CPU threads to train with (default: $HANDKP_THREADS, else "
                                             "$OMP_NUM_THREADS, else every core; a study's workers on one machine "
                                             "split the cores between them).")]


def use_threads(option: int | None) -> ThreadChoice:
    """Take the threads of a run that trains alone (`train`, `retrain`, `fidelity`): fixed, or every core."""
    from nas.training.threads import choose_threads, set_threads

    choice = choose_threads(option)
    set_threads(choice.threads)
    return choice


# --- option groups -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchOptions:
    """The architecture options of `cost` and `train`: five fields, or an architecture file."""

    backbone: Backbone = ArchConfig.backbone
    backbone_width: BackboneWidth = ArchConfig.backbone_width
    head_depth: HeadDepth = ArchConfig.head_depth
    head_width: HeadWidth = ArchConfig.head_width
    input_size: InputSize = ArchConfig.input_size
    arch_file: ArchFile = None

    def arch(self) -> ArchConfig:
        from nas.deploy.spec import ArchSpec

        if self.arch_file is not None:
            return ArchSpec.load(self.arch_file).arch
        return ArchConfig(self.backbone, self.backbone_width, self.head_depth, self.head_width, self.input_size)


@dataclass(frozen=True)
class RetrainOptions:
    """What `retrain` and `fidelity` share: the data a full training uses, its recipe overrides and
    its threads. The data defaults are `DataSpec`'s."""

    data: DataOpt = DataSpec.source
    train_images: TrainImages = DataSpec.train_images
    val_images: ValImages = DataSpec.val_images
    test_images: TestImages = DataSpec.test_images
    data_seed: DataSeed = DataSpec.seed
    fmt: FormatOpt = DataSpec.format
    max_bad: MaxBad = DataSpec.max_bad
    epochs: Epochs = None
    lr: Lr = None
    lr_min: LrMin = None
    batch_size: BatchSize = None
    device: Device = TrainConfig.device
    cache_dir: CacheDir = None
    threads: Threads = None

    def data_spec(self) -> DataSpec:
        from nas.data.spec import DataSpec

        return DataSpec(self.data, seed=self.data_seed, format=self.fmt, max_bad=self.max_bad,
                        train_images=self.train_images, val_images=self.val_images, test_images=self.test_images)

    def recipe_overrides(self, aug: int | None = None) -> dict[str, Any]:
        """The recipe fields given on the command line (None = keep the recipe's), plus the device."""
        given = {"epochs": self.epochs, "lr": self.lr, "lr_min": self.lr_min, "batch_size": self.batch_size,
                 "aug_multiplier": aug}
        return {**{k: v for k, v in given.items() if v is not None}, "device": self.device}


def with_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Let `command` take option groups (dataclass-typed parameters): Typer sees their fields as
    plain options, the command gets the dataclass."""
    signature = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for p in signature.parameters.values():
        if dataclasses.is_dataclass(p.annotation):
            groups[p.name] = p.annotation
            params += _group_params(p.annotation)
        else:
            params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter name")

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        for name, cls in groups.items():
            kwargs[name] = cls(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(cls)})
        return command(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _group_params(cls: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
            for f in dataclasses.fields(cls)]
