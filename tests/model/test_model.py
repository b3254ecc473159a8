from __future__ import annotations

import pytest
import timm
import torch

from nas.model.arch import ArchConfig
from nas.model.cost import param_count
from nas.model.network import build_backbone, build_model

REGISTERED = {"mobilenetv2": "mobilenetv2_100", "mobilenetv3_small": "mobilenetv3_small_100"}


@pytest.mark.parametrize("backbone", sorted(REGISTERED))
def test_width_one_equals_timm_registered_features(backbone):
    ours = build_backbone(backbone, 1.0)
    theirs = timm.create_model(REGISTERED[backbone], pretrained=False, features_only=True, output_stride=16)
    assert param_count(ours) == param_count(theirs)
    assert ours.feature_info.channels()[-1] == theirs.feature_info.channels()[-1]


@pytest.mark.parametrize("backbone", sorted(REGISTERED))
@pytest.mark.parametrize("width", [0.25, 0.6, 1.5])
def test_any_width_gives_stride_16_features(backbone, width):
    feats = build_backbone(backbone, width).eval()(torch.zeros(1, 3, 224, 224))
    assert len(feats) == 1 and feats[0].shape[-2:] == (14, 14)


@pytest.mark.parametrize("depth", [1, 4])
def test_heatmaps_at_stride_4(depth):
    model = build_model(ArchConfig("mobilenetv3_small", 0.5, depth, 0.5, input_size=128)).eval()
    assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 21, 32, 32)
    n_blocks = sum(type(m).__name__ == "DSResidualBlock" for m in model.head)
    assert n_blocks == depth


def test_build_is_deterministic():
    arch = ArchConfig("mobilenetv2", 0.35, 2, 0.5, input_size=64)
    a, b = build_model(arch, seed=3), build_model(arch, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = build_model(arch, seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
