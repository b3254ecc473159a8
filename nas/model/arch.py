"""`ArchConfig`: the frozen, serialisable description of one keypoint model.

Every field maps one-to-one onto an argument of `nas.model.build_model`, so a search parameter,
a YAML file and the builder all use the same names.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nas.config import from_mapping, parse_yaml, read_yaml
from nas.errors import ConfigError

__all__ = ["ArchConfig", "BACKBONES", "WIDTH_RANGE", "HEAD_WIDTH_RANGE", "HEAD_DEPTH_RANGE"]

BACKBONES = ("mobilenetv2", "mobilenetv3_small")
WIDTH_RANGE = (0.25, 1.5)
HEAD_WIDTH_RANGE = (0.125, 4.0)
HEAD_DEPTH_RANGE = (1, 8)
INPUT_SIZE_RANGE = (32, 1024)


@dataclass(frozen=True)
class ArchConfig:
    """A keypoint model: timm MobileNet backbone (stride 16) + depthwise-separable heatmap head.

    Attributes:
        backbone: "mobilenetv2" or "mobilenetv3_small".
        backbone_width: timm channel multiplier of the backbone, in [0.25, 1.5].
        head_depth: number of depthwise-separable residual blocks at stride 16.
        head_width: head channels as a multiple of `nas.model.HEAD_BASE_CHANNELS`.
        input_size: side of the square input the model is deployed (and costed) at.
        num_keypoints: heatmaps produced (21 for a hand).
    """

    backbone: str = "mobilenetv3_small"
    backbone_width: float = 1.0
    head_depth: int = 2
    head_width: float = 1.0
    input_size: int = 224
    num_keypoints: int = 21

    def __post_init__(self) -> None:
        _check_choice("backbone", self.backbone, BACKBONES)
        _check_range("backbone_width", self.backbone_width, WIDTH_RANGE, float)
        _check_range("head_width", self.head_width, HEAD_WIDTH_RANGE, float)
        _check_range("head_depth", self.head_depth, HEAD_DEPTH_RANGE, int)
        _check_range("input_size", self.input_size, INPUT_SIZE_RANGE, int)
        if self.input_size % 16:
            raise ConfigError(f"input_size: {self.input_size} is not a multiple of 16 (the backbone stride)")
        _check_range("num_keypoints", self.num_keypoints, (1, 256), int)

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "architecture") -> ArchConfig:
        """Build from a mapping; unknown keys and bad values raise ConfigError naming `source`."""
        return from_mapping(cls, data, source)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "architecture") -> ArchConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(data, source)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "architecture") -> ArchConfig:
        return cls.from_dict(parse_yaml(text, source), source)

    @classmethod
    def load(cls, path: str | Path) -> ArchConfig:
        return cls.from_dict(read_yaml(path, "architecture"), str(path))

    def short(self) -> str:
        """One-line human label, e.g. 'mobilenetv3_small x0.75 | head 2x1.00'."""
        return f"{self.backbone} x{self.backbone_width:.2f} | head {self.head_depth}x{self.head_width:.2f}"


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


def _check_range(name: str, value: Any, bounds: tuple[float, float], kind: type) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}: {value!r} is not a number")
    if kind is int and float(value) != int(value):
        raise ConfigError(f"{name}: {value!r} is not an integer")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: {value!r} is outside [{lo}, {hi}]")
