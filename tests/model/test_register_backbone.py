"""A backbone is one registration: timm's MobileNetV3-large, registered here and nowhere else, is
accepted by an architecture and a search space, costed, trained one step, started from ImageNet
weights in a local file, and named in the leaderboard."""
from __future__ import annotations

import math

import pytest
import timm
import torch
from timm.models.mobilenetv3 import _gen_mobilenet_v3

from nas.cli.leaderboard import _short
from nas.deploy.init import WEIGHTS_ENV, initial_weights
from nas.model import backbones
from nas.model.arch import ArchConfig
from nas.model.backbones import BACKBONES, register_backbone
from nas.model.cost import count_cost
from nas.model.network import build_model
from nas.model.slicing import load_sliced
from nas.search.sampling import arch_from_params, suggest_params
from nas.search.space import parse_space
from nas.training.recipe import TrainConfig
from nas.training.trainer import train

VARIANT = "mobilenetv3_large_100"


@pytest.fixture()
def large():
    """MobileNetV3-large registered for the test, unregistered after it."""
    @register_backbone(short="mnv3l", imagenet={1.0: VARIANT})
    def mobilenetv3_large(width: float, pretrained: bool = False):
        return backbones._timm_features(_gen_mobilenet_v3, VARIANT, width, pretrained)

    yield "mobilenetv3_large"
    BACKBONES.pop("mobilenetv3_large")


def test_a_registered_backbone_goes_through_cost_training_a_space_and_imagenet(large, tiny_data, tmp_path,
                                                                             monkeypatch):
    arch = ArchConfig(large, 0.5, 1, 0.25, input_size=64)
    cost = count_cost(arch)
    assert 0 < cost.gflops and cost.mparams > count_cost(ArchConfig("mobilenetv3_small", 0.5, 1, 0.25, 64)).mparams
    train_d, val_d = tiny_data
    result = train(build_model(arch, seed=0), train_d.subset(slice(0, 16)), val_d,
                   TrainConfig(epochs=1, batch_size=16, device="cpu"))
    assert result.history[0].epoch == 1 and math.isfinite(result.px_error)

    space = parse_space({"space": {"backbone": [large], "backbone_width": {"low": 0.5, "high": 0.75, "step": 0.25},
                                   "head_width": 0.25, "head_depth": 1, "aug_multiplier": 1}, "input_size": 64})
    import optuna

    drawn = arch_from_params(suggest_params(optuna.create_study().ask(), space), space)
    assert drawn.backbone == large

    source = timm.create_model(VARIANT, pretrained=False)
    with torch.no_grad():
        source.conv_stem.weight.normal_()
    torch.save(source.state_dict(), tmp_path / f"{VARIANT}.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    start = initial_weights("imagenet", arch)
    assert start.label == f"imagenet:{VARIANT} (width 1)"
    model = build_model(arch, seed=1)
    load_sliced(model, start.tensors, start.partial)
    stem = model.backbone.conv_stem.weight
    assert torch.equal(stem, source.conv_stem.weight[: stem.shape[0]])
    assert _short(f"{large} x0.50") == "mnv3l x0.50"
