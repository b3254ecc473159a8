"""The architecture file `pick` writes and `retrain` reads: an ArchConfig, the full training recipe
and where the architecture came from. A plain ArchConfig YAML is accepted too (it gets the default
full recipe), so users can write their own.

    # handkp-search architecture file
    arch: {backbone: mobilenetv3_small, backbone_width: 0.75, head_depth: 2, ...}
    recipe: {epochs: 20, lr: ..., lr_min: ..., aug_multiplier: 7, ...}   (nas.training.recipe.full_recipe)
    source: {study: quick, trial: 5, proxy_score: ..., ...}
    init: scratch        (or supernet | imagenet | a weights file: where the retrain starts, nas.deploy.init)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.config import FieldError, check_keys, from_mapping, in_section, read_yaml
from nas.io import write_text_atomic
from nas.model.arch import ArchConfig
from nas.training.recipe import FULL_EPOCHS, TrainConfig, full_recipe

__all__ = ["ArchSpec", "full_recipe", "FULL_EPOCHS"]


@dataclass(frozen=True)
class ArchSpec:
    arch: ArchConfig
    recipe: TrainConfig = field(default_factory=full_recipe)
    source: dict[str, Any] = field(default_factory=dict)  # provenance, informational only
    init: str = "scratch"  # where a retrain starts: scratch | supernet | imagenet | a weights file

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "recipe": self.recipe.to_dict(), "source": dict(self.source),
                "init": self.init}

    def to_yaml(self) -> str:
        head = "# handkp-search architecture file: `handkp-search retrain THIS_FILE` trains it fully\n"
        return head + yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.to_yaml())

    @classmethod
    def from_dict(cls, data: Any, source: str = "architecture file") -> ArchSpec:
        """An architecture file, or a plain ArchConfig mapping (it gets the default full recipe);
        a partial `recipe:` fills in from the default full recipe."""
        if isinstance(data, Mapping) and "arch" not in data:  # a plain ArchConfig file
            return cls(ArchConfig.from_dict(data, source))
        with in_section(source=source):
            d = check_keys(data, ("arch", "recipe", "source", "init"), what="architecture file")
            arch = from_mapping(ArchConfig, d["arch"], source, "arch")
            recipe = full_recipe()
            if d.get("recipe") is not None:
                given = _mapping(d["recipe"], "recipe")
                recipe = from_mapping(TrainConfig, {**recipe.to_dict(), **given}, source, "recipe")
            init = d.get("init") or "scratch"
            if not isinstance(init, str):
                raise FieldError("init", f"expected scratch, supernet, imagenet or a file path, got {init!r}")
            return cls(arch, recipe, dict(_mapping(d.get("source") or {}, "source")), init)

    @classmethod
    def load(cls, path: str | Path) -> ArchSpec:
        return cls.from_dict(read_yaml(path, "architecture"), str(path))


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(key, f"expected a mapping, got {type(value).__name__}")
    return value
