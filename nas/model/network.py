"""Keypoint model: a registered backbone (`nas.model.backbones`) at stride 16 and the heatmap head
(`nas.model.head`) up to stride 4. The attribute names `backbone` and `head` are the state-dict
prefixes of every checkpoint."""
from __future__ import annotations

import torch
from torch import nn

from nas.model.arch import ArchConfig
from nas.model.backbones import OUTPUT_STRIDE, build_backbone
from nas.model.head import UPSAMPLING, build_head

__all__ = ["HEATMAP_STRIDE", "KeypointNet", "build_model"]

HEATMAP_STRIDE = OUTPUT_STRIDE // UPSAMPLING  # input pixels per heatmap cell (4)


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
