"""The architecture file `pick` writes and `retrain` reads: an ArchConfig, the full training recipe
and where the architecture came from. A plain ArchConfig YAML is accepted too (it gets the default
full recipe), so users can write their own.

    # handkp-search architecture file
    arch: {backbone: mobilenetv3_small, backbone_width: 0.75, head_depth: 2, ...}
    recipe: {epochs: 20, lr: 0.0005, lr_min: 5.0e-05, aug_multiplier: 7, ...}
    source: {study: quick, trial: 5, proxy_score: ..., ...}
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from nas.config import read_yaml
from nas.errors import ConfigError
from nas.io import write_text_atomic
from nas.model.arch import ArchConfig
from nas.training.recipe import TrainConfig

__all__ = ["ArchSpec", "full_recipe", "FULL_EPOCHS"]

FULL_EPOCHS = 20


def full_recipe(aug_multiplier: int = 7, **overrides: Any) -> TrainConfig:
    """DESIGN.md's full recipe: Adam, one half cosine 5e-4 -> 5e-5 over aug x steps x epochs, best
    validation weights; the loss is this project's measured default (dsnt), not the seed's MSE."""
    base = TrainConfig(epochs=FULL_EPOCHS, batch_size=32, lr=5e-4, lr_min=5e-5, aug_multiplier=aug_multiplier)
    return replace(base, **overrides)


@dataclass(frozen=True)
class ArchSpec:
    arch: ArchConfig
    recipe: TrainConfig = field(default_factory=full_recipe)
    source: dict[str, Any] = field(default_factory=dict)  # provenance, informational only

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "recipe": self.recipe.to_dict(), "source": dict(self.source)}

    def to_yaml(self) -> str:
        head = "# handkp-search architecture file: `handkp-search retrain THIS_FILE` trains it fully\n"
        return head + yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.to_yaml())

    @classmethod
    def from_dict(cls, data: Any, source: str = "architecture file") -> ArchSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
        if "arch" not in data:  # a plain ArchConfig file
            return cls(ArchConfig.from_dict(data, source))
        unknown = sorted(set(data) - {"arch", "recipe", "source"})
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: arch, recipe, source)")
        arch = ArchConfig.from_dict(data["arch"], f"{source}: arch")
        recipe = full_recipe()
        if data.get("recipe") is not None:
            recipe = TrainConfig.from_dict({**recipe.to_dict(), **_mapping(data["recipe"], source, "recipe")},
                                           f"{source}: recipe")
        prov = data.get("source") or {}
        return cls(arch, recipe, dict(_mapping(prov, source, "source")))

    @classmethod
    def load(cls, path: str | Path) -> ArchSpec:
        return cls.from_dict(read_yaml(path, "architecture"), str(path))


def _mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {key}: expected a mapping, got {type(value).__name__}")
    return value
