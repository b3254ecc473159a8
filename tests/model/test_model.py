from __future__ import annotations

import pytest
import timm
import torch

from nas.errors import ConfigError
from nas.model.arch import ArchConfig, backbone_names
from nas.model.backbones import BACKBONES, build_backbone
from nas.model.cost import param_count
from nas.model.network import HEATMAP_STRIDE, build_model

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
    n_blocks = sum(type(m).__name__ == "DSResidualBlock" for m in model.head.blocks)
    assert n_blocks == depth


def test_build_is_deterministic():
    arch = ArchConfig("mobilenetv2", 0.35, 2, 0.5, input_size=64)
    a, b = build_model(arch, seed=3), build_model(arch, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = build_model(arch, seed=4)
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_the_registry_builds_every_backbone_an_architecture_may_name():
    assert backbone_names() == tuple(BACKBONES) and {"mobilenetv2", "mobilenetv3_small"} <= set(BACKBONES)
    with pytest.raises(ConfigError, match="mobilenetv2, mobilenetv3_small"):
        build_backbone("resnet18", 1.0)


def test_heatmap_stride_is_what_the_model_outputs():
    model = build_model(ArchConfig("mobilenetv2", 0.25, 1, 0.125, input_size=96)).eval()
    assert model(torch.zeros(1, 3, 96, 96)).shape[-1] == 96 // HEATMAP_STRIDE


def test_state_dict_names_are_the_checkpoint_format():
    # checkpoints store these keys: the head's layout must not be renamed or reordered; block i is
    # blocks.i at every depth (weight sharing slices a shallower head out of a deeper one)
    keys = list(build_model(ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64)).state_dict())
    assert sum(k.startswith("backbone.") for k in keys) == 240
    head = [k.rsplit(".", 1)[0] for k in keys if k.startswith("head.") and k.endswith(".weight")]
    assert head == [
        "head.blocks.0.body.0.0", "head.blocks.0.body.0.1", "head.blocks.0.body.1.0", "head.blocks.0.body.1.1",
        "head.blocks.0.body.2.0", "head.blocks.0.body.2.1", "head.blocks.0.shortcut.0", "head.blocks.0.shortcut.1",
        "head.upsample.0.up.0", "head.upsample.0.up.1", "head.upsample.0.mix.0", "head.upsample.0.mix.1",
        "head.upsample.1.up.0", "head.upsample.1.up.1", "head.upsample.1.mix.0", "head.upsample.1.mix.1",
        "head.upsample.2.0", "head.upsample.2.1", "head.upsample.3",
    ]
    assert keys[:2] == ["backbone.conv_stem.weight", "backbone.bn1.weight"]


@pytest.mark.parametrize("depth", [1, 3])
def test_a_checkpoint_with_the_flat_head_of_earlier_versions_loads(depth):
    arch = ArchConfig("mobilenetv3_small", 0.35, depth, 0.25, input_size=64)
    model = build_model(arch, seed=1).eval()
    flat = {}  # the head as one sequence: blocks 0..depth-1, then the upsampler
    for key, value in model.state_dict().items():
        for part, offset in (("head.blocks.", 0), ("head.upsample.", depth)):
            if key.startswith(part):
                index, rest = key[len(part):].split(".", 1)
                key = f"head.{int(index) + offset}.{rest}"
        flat[key] = value
    assert "head.0.body.0.0.weight" in flat and f"head.{depth}.up.0.weight" in flat
    other = build_model(arch, seed=2).eval()
    other.load_state_dict(flat)
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(other(x), model(x))
