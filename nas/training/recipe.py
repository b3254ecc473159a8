"""The training recipe: one frozen config for the proxy and the full retrain, and every default of both.

`TrainConfig()` is the proxy recipe a search space's `proxy:` section starts from (and `handkp-search
train`'s defaults): Adam from scratch with a half cosine, at the rate the README's "Loss and learning
rate" screen measured best for short runs from scratch. `full_recipe()` is what `pick` writes and
`retrain` trains with by default; the `FULL_*` constants below are its fields.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas.config import FieldError, bounds, check_fields, choices, from_mapping

__all__ = ["TrainConfig", "MEMORY_FORMATS", "SWITCHES", "RUNTIME_FIELDS", "FULL_EPOCHS", "FULL_BATCH_SIZE", "FULL_LR",
           "FULL_LR_MIN", "FULL_AUG", "full_recipe"]


MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
SWITCHES = ("auto", "on", "off")  # amp, cuda_graph, eval_graph: what auto means is in nas/training/device.py
# fields that choose how a run computes, not what it learns: a resumed run may change them
RUNTIME_FIELDS = ("device", "amp", "eval_batch_size", "memory_format", "cuda_graph", "eval_graph")


def _losses() -> tuple[str, ...]:
    from nas.keypoints.losses import LOSSES  # torch: imported when a recipe is checked, not when this is read

    return tuple(LOSSES)


@dataclass(frozen=True)
class TrainConfig:
    """Adam, one half cosine lr -> lr_min over aug_multiplier x steps x epochs, best-validation weights."""

    epochs: int = field(default=5, metadata=bounds(1, 1000))
    batch_size: int = field(default=32, metadata=bounds(2, 4096))
    lr: float = field(default=4e-3, metadata=bounds(1e-7, 1.0))
    lr_min: float = field(default=1e-4, metadata=bounds(0.0, 1.0))  # and <= lr
    aug_multiplier: int = field(default=1, metadata=bounds(1, 32))  # passes per epoch, each freshly augmented
    rotation: float = field(default=180.0, metadata=bounds(0.0, 180.0))  # max |angle| in degrees
    flip: bool = True
    loss: str = field(default="dsnt", metadata=choices(_losses))  # mse (the seed's) | integral | dsnt
    sigma: float = field(default=2.0, metadata=bounds(0.25, 16.0))  # Gaussian sigma in heatmap cells
    device: str = "auto"  # auto | cpu | cuda | cuda:N (checked where it is resolved)
    # mixed precision, CUDA only: auto (on there) | on | off; true/false (recipes written before) read as on/off
    amp: str = field(default="auto", metadata=choices(SWITCHES))
    seed: int = field(default=0, metadata=bounds(0, 2**63 - 1))
    eval_batch_size: int = field(default=128, metadata=bounds(1, 65536))
    # layout of the model and its batches: auto (channels_last on the CPU, contiguous on CUDA)
    # | channels_last | contiguous. The same model either way; nas/training/device.py says why and how close
    memory_format: str = field(default="auto", metadata=choices(MEMORY_FORMATS))
    # the training step as one captured CUDA graph, CUDA only: auto (on there, unless float16 amp) | on | off
    cuda_graph: str = field(default="auto", metadata=choices(SWITCHES))
    # evaluation's batches as one captured CUDA graph, CUDA only: auto (with a captured step) | on | off.
    # off by default until bench/bench_trainer.py has measured on a GPU what it saves
    eval_graph: str = field(default="off", metadata=choices(SWITCHES))

    def __post_init__(self) -> None:
        for name in ("amp", "cuda_graph", "eval_graph"):  # YAML reads on/off/yes/no as booleans
            value = getattr(self, name)
            if isinstance(value, bool):
                object.__setattr__(self, name, "on" if value else "off")
        check_fields(self)
        if self.lr_min > self.lr:
            raise FieldError("lr_min", f"{self.lr_min!r} is above lr {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "training recipe", section: str = "") -> TrainConfig:
        return from_mapping(cls, data, source, section)


FULL_EPOCHS = 20
FULL_BATCH_SIZE = 32
FULL_AUG = 7
FULL_LR = 4e-3
FULL_LR_MIN = FULL_LR / 20


def full_recipe(aug_multiplier: int = FULL_AUG, **overrides: Any) -> TrainConfig:
    """The full retrain from scratch, with another augmentation multiplier (a picked trial's) and any
    field overridden.

    Its learning rate was chosen by `bench/lr_screen.py` (runs in docs/results/lr-screen.jsonl): of
    the rates screened, the one with the lowest validation error for both the course report's final
    model and a small model, each trained from scratch at 64 px; the cosine ends at lr / 20 as in that
    screen. The course report's 5e-4 -> 5e-5 was meant for pretrained backbones. The other fields are
    the course report's (20 epochs, batch 32, 7 augmented passes); the loss is TrainConfig's (dsnt).
    """
    base = dict(epochs=FULL_EPOCHS, batch_size=FULL_BATCH_SIZE, lr=FULL_LR, lr_min=FULL_LR_MIN)
    return TrainConfig(**{**base, "aug_multiplier": aug_multiplier, **overrides})
