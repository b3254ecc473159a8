"""Keypoint model: a timm MobileNet feature extractor at stride 16 and a depthwise-separable head.

Head after Gouidis et al. (MVA 2019, after VNect): `head_depth` residual blocks
[1x1 -> depthwise 3x3 -> 1x1 linear] + shortcut at stride 16, two x2 depthwise transposed-conv
upsamplings (stride 16 -> 4), then depthwise 3x3 -> 1x1 to one heatmap per keypoint.
"""
from __future__ import annotations

import torch
from timm.layers import make_divisible
from timm.models.efficientnet import _gen_mobilenet_v2
from timm.models.mobilenetv3 import _gen_mobilenet_v3
from torch import nn

from nas.model.arch import ArchConfig

__all__ = ["HEAD_BASE_CHANNELS", "HEATMAP_STRIDE", "KeypointNet", "build_backbone", "build_head", "build_model"]

HEAD_BASE_CHANNELS = 256
HEATMAP_STRIDE = 4
_LEAK = 0.1
_DEEPEST_STAGE = 4  # both MobileNets expose 5 feature stages (strides 2, 4, 8, 16, 16)

# backbone name -> (timm generator, timm variant name used for its default config)
_BACKBONES = {
    "mobilenetv2": (_gen_mobilenet_v2, "mobilenetv2_100"),
    "mobilenetv3_small": (_gen_mobilenet_v3, "mobilenetv3_small_100"),
}


def build_backbone(backbone: str, backbone_width: float, pretrained: bool = False) -> nn.Module:
    """timm's own MobileNet generator at any width; the last stride-2 stage becomes dilated (stride 16).

    Returns a timm features module whose forward gives a list with one (B, C, H/16, W/16) tensor.
    """
    gen, variant = _BACKBONES[backbone]
    return gen(
        variant,
        channel_multiplier=backbone_width,
        pretrained=pretrained,
        features_only=True,
        output_stride=16,
        out_indices=(_DEEPEST_STAGE,),  # only the stride-16 output; no hooks on unused stages
    )


def _conv_bn(cin: int, cout: int, k: int, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.LeakyReLU(_LEAK, inplace=True))
    return nn.Sequential(*layers)


class DSResidualBlock(nn.Module):
    """[1x1 -> depthwise 3x3 -> 1x1 linear] + shortcut (linear 1x1 where channels change), LeakyReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(cin, cout, 1),
            _conv_bn(cout, cout, 3, groups=cout),
            _conv_bn(cout, cout, 1, act=False),
        )
        self.shortcut = nn.Identity() if cin == cout else _conv_bn(cin, cout, 1, act=False)
        self.act = nn.LeakyReLU(_LEAK, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class UpBlock(nn.Module):
    """x2 upsampling: depthwise 4x4 stride-2 transposed conv, then a 1x1 that sets the channels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.ConvTranspose2d(cin, cin, 4, stride=2, padding=1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.LeakyReLU(_LEAK, inplace=True),
        )
        self.mix = _conv_bn(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.up(x))


def head_channels(head_width: float) -> tuple[int, int, int]:
    """Channels at stride 16, 8 and 4 for a head width multiplier."""
    c16 = make_divisible(HEAD_BASE_CHANNELS * head_width, 8)
    return c16, make_divisible(c16 / 2, 8), make_divisible(c16 / 4, 8)


def build_head(in_channels: int, head_depth: int, head_width: float, num_keypoints: int) -> nn.Sequential:
    c16, c8, c4 = head_channels(head_width)
    blocks: list[nn.Module] = [DSResidualBlock(in_channels if i == 0 else c16, c16) for i in range(head_depth)]
    blocks += [
        UpBlock(c16, c8),  # stride 16 -> 8
        UpBlock(c8, c4),  # stride 8 -> 4
        _conv_bn(c4, c4, 3, groups=c4),
        nn.Conv2d(c4, num_keypoints, 1),
    ]
    return nn.Sequential(*blocks)


class KeypointNet(nn.Module):
    """Image (B, 3, H, W) in [0, 1] -> heatmap logits (B, K, H/4, W/4)."""

    def __init__(self, arch: ArchConfig, pretrained: bool = False) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = build_backbone(arch.backbone, arch.backbone_width, pretrained)
        cin = self.backbone.feature_info.channels()[-1]
        self.head = build_head(cin, arch.head_depth, arch.head_width, arch.num_keypoints)
        # ImageNet normalisation inside the model, so exported models take plain [0, 1] RGB
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.head(self.backbone(x)[-1])


def build_model(arch: ArchConfig, pretrained: bool = False, seed: int | None = 0) -> KeypointNet:
    """Deterministic for a given `seed` (None keeps the global RNG state)."""
    if seed is None:
        return KeypointNet(arch, pretrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return KeypointNet(arch, pretrained)
