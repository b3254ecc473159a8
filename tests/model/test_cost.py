from __future__ import annotations

import math

import pytest
import torch

from nas.model.arch import ArchConfig
from nas.model.backbones import build_backbone
from nas.model.cost import count_cost, model_cost, score, thop_macs, torch_macs
from nas.model.head import UpBlock, build_head


def test_seed_report_score_to_the_last_digit():
    s = score(0.302601376, 2.007968, 6.152803876982536)
    assert abs(s - 285.59885234255654) / 285.59885234255654 < 1e-12


def test_score_formula():
    assert score(2.0, 3.0, 0.0) == 6.0
    assert score(1.0, 1.0, 1.0) == pytest.approx(math.e)


@pytest.mark.parametrize("width", [0.5, 1.0, 1.4])
def test_mobilenetv2_thop_equals_torch_counter(width):
    bb = build_backbone("mobilenetv2", width)
    assert thop_macs(bb, 224) == torch_macs(bb, 224)


@pytest.mark.parametrize("width", [0.5, 1.0, 1.4])
def test_mobilenetv3_small_thop_equals_torch_counter_plus_stem_norm(width):
    # timm's MobileNetV3Features stem norm is a plain nn.BatchNorm2d, which thop counts at
    # 4 ops per element (torch's counter counts convolutions only); everything else matches exactly.
    bb = build_backbone("mobilenetv3_small", width)
    stem = bb.bn1
    assert type(stem) is torch.nn.BatchNorm2d
    stem_elements = stem.num_features * 112 * 112
    assert thop_macs(bb, 224) == torch_macs(bb, 224) + 4 * stem_elements


def test_transposed_conv_gap_is_pinned():
    # depthwise 4x4 stride-2 transposed conv, 64 channels at 14x14: thop counts every output pixel
    # with the full kernel (4x the true MACs)
    up = UpBlock(64, 64).up[0]
    x = torch.zeros(1, 64, 14, 14)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = up

        def forward(self, _):
            return self.up(x)

    w = Wrap()
    assert thop_macs(w, 16) == 802_816
    assert torch_macs(w, 16) == 200_704


def test_one_head_pinned_both_counts():
    head = build_head(576, 1, 0.25, 21)  # 64 channels at stride 16

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = head

        def forward(self, _):
            return self.head(torch.zeros(1, 576, 14, 14))

    w = Wrap()
    thop_count, torch_count = thop_macs(w, 16), torch_macs(w, 16)
    assert (thop_count, torch_count) == (THOP_HEAD, TORCH_HEAD)


# regression pins for build_head(576, 1, 0.25, 21) at 14x14 (see test above)
THOP_HEAD = 23_795_968
TORCH_HEAD = 20_685_056


def test_count_cost_of_an_architecture():
    c = count_cost(ArchConfig("mobilenetv3_small", 1.0, 2, 2.0))
    assert c.mparams == pytest.approx(2.502197, abs=1e-6)
    assert c.gflops == pytest.approx(0.625722272, abs=1e-9)
    assert c.true_gmacs < c.gflops  # transposed convs and LeakyReLU are over-counted by thop
    assert c.cost == pytest.approx(c.gflops * c.mparams)


def test_cost_restores_training_mode():
    bb = build_backbone("mobilenetv3_small", 0.5).train()
    model_cost(bb, 64)
    assert bb.training
