"""The depthwise-separable heatmap head, after Gouidis et al. (MVA 2019, after VNect).

`head_depth` residual blocks [1x1 -> depthwise 3x3 -> 1x1 linear] + shortcut at stride 16 (`blocks`),
two x2 depthwise transposed-conv upsamplings (stride 16 -> 4), then depthwise 3x3 -> 1x1 to one
heatmap per keypoint (`upsample`). Module names are part of the checkpoint format (state-dict keys):
block i is `blocks.i` at every depth, so a shallower head's weights are a prefix of a deeper one's
(weight sharing slices them). Checkpoints from before this split (`head.0`, `head.1`, ... in one
sequence) load unchanged.
"""
from __future__ import annotations

import torch
from timm.layers import make_divisible
from torch import nn

__all__ = ["HEAD_BASE_CHANNELS", "UPSAMPLING", "DSResidualBlock", "UpBlock", "KeypointHead", "build_head",
           "head_channels"]

HEAD_BASE_CHANNELS = 256
UPSAMPLING = 4  # two x2 blocks
_LEAK = 0.1


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


class KeypointHead(nn.Module):
    """The residual blocks at stride 16, then the upsampler to stride 4 and the heatmap logits."""

    def __init__(self, in_channels: int, head_depth: int, head_width: float, num_keypoints: int) -> None:
        super().__init__()
        c16, c8, c4 = head_channels(head_width)
        self.blocks = nn.Sequential(*[DSResidualBlock(in_channels if i == 0 else c16, c16) for i in range(head_depth)])
        self.upsample = nn.Sequential(
            UpBlock(c16, c8),  # stride 16 -> 8
            UpBlock(c8, c4),  # stride 8 -> 4
            _conv_bn(c4, c4, 3, groups=c4),
            nn.Conv2d(c4, num_keypoints, 1),
        )
        self._register_load_state_dict_pre_hook(self._from_flat_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.blocks(x))

    def _from_flat_keys(self, state_dict, prefix, *_args) -> None:
        """Rename the keys of a head saved as one flat sequence (`0..depth-1` blocks, then the
        upsampler) to `blocks.i` and `upsample.j`."""
        depth = len(self.blocks)
        for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()]:
            index, rest = key[len(prefix):].split(".", 1)
            i = int(index)
            new = f"blocks.{i}" if i < depth else f"upsample.{i - depth}"
            state_dict[f"{prefix}{new}.{rest}"] = state_dict.pop(key)


def build_head(in_channels: int, head_depth: int, head_width: float, num_keypoints: int) -> KeypointHead:
    return KeypointHead(in_channels, head_depth, head_width, num_keypoints)
