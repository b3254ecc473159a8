"""`ArchConfig`: the frozen, serialisable description of one keypoint model.

Every field maps one-to-one onto an argument of `nas.model.build_model`, so a search parameter,
a YAML file and the builder all use the same names.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.config import bounds, check_fields, choices, from_mapping, parse_yaml, read_yaml
from nas.errors import ConfigError

__all__ = ["ArchConfig", "backbone_names", "WIDTH_RANGE", "HEAD_WIDTH_RANGE", "HEAD_DEPTH_RANGE", "INPUT_SIZE_RANGE",
           "STRIDE"]



def backbone_names() -> tuple[str, ...]:
    """The registered backbones (`nas.model.backbones`, imported only when a name is checked)."""
    from nas.model.backbones import backbone_names as names

    return names()


WIDTH_RANGE = (0.25, 1.5)
HEAD_WIDTH_RANGE = (0.125, 4.0)
HEAD_DEPTH_RANGE = (1, 8)
INPUT_SIZE_RANGE = (32, 1024)
STRIDE = 16  # the backbone's output stride: input sides must be multiples of it


@dataclass(frozen=True)
class ArchConfig:
    """A keypoint model: timm MobileNet backbone (stride 16) + depthwise-separable heatmap head.

    Attributes:
        backbone: a registered backbone (`nas.model.backbones`): mobilenetv2, mobilenetv3_small, ...
        backbone_width: timm channel multiplier of the backbone, in [0.25, 1.5].
        head_depth: number of depthwise-separable residual blocks at stride 16.
        head_width: head channels as a multiple of `nas.model.HEAD_BASE_CHANNELS`.
        input_size: side of the square input the model is deployed (and costed) at.
        num_keypoints: heatmaps produced (21 for a hand).
    """

    backbone: str = field(default="mobilenetv3_small", metadata=choices(backbone_names))
    backbone_width: float = field(default=1.0, metadata=bounds(*WIDTH_RANGE))
    head_depth: int = field(default=2, metadata=bounds(*HEAD_DEPTH_RANGE))
    head_width: float = field(default=1.0, metadata=bounds(*HEAD_WIDTH_RANGE))
    input_size: int = field(default=224, metadata=bounds(*INPUT_SIZE_RANGE, multiple_of=STRIDE))
    num_keypoints: int = field(default=21, metadata=bounds(1, 256))

    def __post_init__(self) -> None:
        check_fields(self)

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

