"""Backbone registry: name -> builder of a timm MobileNet feature extractor at output stride 16.

Builders register themselves by function name (as timm's `register_model` does); the names are the
values `ArchConfig.backbone` accepts.
"""
from __future__ import annotations

from collections.abc import Callable

from timm.models.efficientnet import _gen_mobilenet_v2
from timm.models.mobilenetv3 import _gen_mobilenet_v3
from torch import nn

from nas.errors import ConfigError
from nas.model.arch import STRIDE as OUTPUT_STRIDE  # the config's input-size rule uses the same stride

__all__ = ["BACKBONE_BUILDERS", "OUTPUT_STRIDE", "build_backbone", "register_backbone"]

_DEEPEST_STAGE = 4  # both MobileNets expose 5 feature stages (strides 2, 4, 8, 16, 16)

BackboneBuilder = Callable[[float, bool], nn.Module]  # (width multiplier, pretrained) -> features module
BACKBONE_BUILDERS: dict[str, BackboneBuilder] = {}


def register_backbone(fn: BackboneBuilder) -> BackboneBuilder:
    BACKBONE_BUILDERS[fn.__name__] = fn
    return fn


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


@register_backbone
def mobilenetv2(width: float, pretrained: bool = False) -> nn.Module:
    return _timm_features(_gen_mobilenet_v2, "mobilenetv2_100", width, pretrained)


@register_backbone
def mobilenetv3_small(width: float, pretrained: bool = False) -> nn.Module:
    return _timm_features(_gen_mobilenet_v3, "mobilenetv3_small_100", width, pretrained)


def build_backbone(backbone: str, backbone_width: float, pretrained: bool = False) -> nn.Module:
    """A timm features module whose forward gives a list with one (B, C, H/16, W/16) tensor."""
    try:
        builder = BACKBONE_BUILDERS[backbone]
    except KeyError:
        raise ConfigError(f"backbone: {backbone!r} is not one of {', '.join(BACKBONE_BUILDERS)}") from None
    return builder(backbone_width, pretrained)
