"""The training recipe: one frozen config for the proxy and the full retrain."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nas.config import from_mapping
from nas.errors import ConfigError
from nas.keypoints.heatmap import LOSSES

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe (DESIGN.md): Adam, cosine lr -> lr_min over aug_multiplier x steps x epochs."""

    epochs: int = 5
    batch_size: int = 32
    lr: float = 5e-4
    lr_min: float = 5e-5
    aug_multiplier: int = 1  # passes over the training set per epoch, each freshly augmented
    rotation: float = 180.0  # max |angle| in degrees
    flip: bool = True
    loss: str = "dsnt"  # mse (the seed's) | integral | dsnt
    sigma: float = 2.0  # Gaussian sigma in heatmap cells
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision (CUDA only)
    seed: int = 0
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        checks = [
            ("epochs", self.epochs >= 1, ">= 1"),
            ("batch_size", self.batch_size >= 2, ">= 2"),
            ("lr", self.lr > 0, "> 0"),
            ("lr_min", 0 <= self.lr_min <= self.lr, "in [0, lr]"),
            ("aug_multiplier", self.aug_multiplier >= 1, ">= 1"),
            ("rotation", 0 <= self.rotation <= 180, "in [0, 180]"),
            ("sigma", self.sigma > 0, "> 0"),
            ("eval_batch_size", self.eval_batch_size >= 1, ">= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"{name}: {getattr(self, name)!r} must be {allowed}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss: {self.loss!r} is not one of {', '.join(LOSSES)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "training recipe") -> TrainConfig:
        return from_mapping(cls, data, source)


