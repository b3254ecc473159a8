"""Backbone registry: the only list of backbones (importing it loads neither torch nor timm). One
registration names a backbone and holds its builder (a timm MobileNet feature extractor at output
stride 16), its ImageNet variants (timm model names by width, for `--init imagenet`) and its short
name (the leaderboard's).

    @register_backbone(short="mnv3l", imagenet={1.0: "mobilenetv3_large_100"})
    def mobilenetv3_large(width: float, pretrained: bool = False) -> nn.Module: ...

Everything else (`ArchConfig.backbone`'s choices, a search space's `backbone:` list, `--init
imagenet`, the leaderboard) reads this registry.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nas.errors import ConfigError
from nas.model.arch import STRIDE as OUTPUT_STRIDE  # the config's input-size rule uses the same stride

if TYPE_CHECKING:
    from torch import nn

__all__ = ["BACKBONES", "Backbone", "OUTPUT_STRIDE", "backbone_names", "build_backbone", "register_backbone"]

_DEEPEST_STAGE = 4  # the MobileNets expose 5 feature stages (strides 2, 4, 8, 16, 16)

BackboneBuilder = Callable[[float, bool], "nn.Module"]  # (width multiplier, pretrained) -> features module


@dataclass(frozen=True)
class Backbone:
    name: str
    build: BackboneBuilder
    short: str  # the leaderboard's name for it
    imagenet: Mapping[float, str] = field(default_factory=dict)  # width -> timm model with ImageNet weights


BACKBONES: dict[str, Backbone] = {}


def register_backbone(short: str, imagenet: Mapping[float, str] | None = None
                      ) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Register the decorated builder under its function name (as timm's `register_model` does)."""
    def register(fn: BackboneBuilder) -> BackboneBuilder:
        BACKBONES[fn.__name__] = Backbone(fn.__name__, fn, short, dict(imagenet or {}))
        return fn
    return register


def backbone_names() -> tuple[str, ...]:
    """The registered names: what `ArchConfig.backbone` and a search space's `backbone:` accept."""
    return tuple(BACKBONES)


def _timm_features(gen: Callable[..., nn.Module], variant: str, width: float, pretrained: bool) -> nn.Module:
    """timm's own generator at any width (`variant` names its default config); the last stride-2
    stage becomes dilated, and only the stride-16 output is built (no hooks on unused stages)."""
    return gen(
        variant,
        channel_multiplier=width,
        pretrained=pretrained,
        features_only=True,
        output_stride=OUTPUT_STRIDE,
        out_indices=(_DEEPEST_STAGE,),
    )


@register_backbone(short="mnv2", imagenet={0.5: "mobilenetv2_050", 1.0: "mobilenetv2_100", 1.4: "mobilenetv2_140"})
def mobilenetv2(width: float, pretrained: bool = False) -> nn.Module:
    from timm.models.efficientnet import _gen_mobilenet_v2  # timm loads with the first model, not the registry

    return _timm_features(_gen_mobilenet_v2, "mobilenetv2_100", width, pretrained)


@register_backbone(short="mnv3s", imagenet={0.5: "mobilenetv3_small_050", 0.75: "mobilenetv3_small_075",
                                            1.0: "mobilenetv3_small_100"})
def mobilenetv3_small(width: float, pretrained: bool = False) -> nn.Module:
    from timm.models.mobilenetv3 import _gen_mobilenet_v3

    return _timm_features(_gen_mobilenet_v3, "mobilenetv3_small_100", width, pretrained)


def build_backbone(backbone: str, backbone_width: float, pretrained: bool = False) -> nn.Module:
    """A timm features module whose forward gives a list with one (B, C, H/16, W/16) tensor."""
    try:
        entry = BACKBONES[backbone]
    except KeyError:
        raise ConfigError(f"backbone: {backbone!r} is not one of {', '.join(BACKBONES)}") from None
    return entry.build(backbone_width, pretrained)
