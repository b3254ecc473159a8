"""Where a retrain starts (`retrain --init`): ImageNet weights from a local file through timm's own
loading path (nothing downloads), a weights file of a wider model, both sliced; through the CLI."""
from __future__ import annotations

import json
import subprocess

import pytest
import timm
import torch
import yaml
from conftest import cli

from nas.deploy.init import WEIGHTS_ENV, initial_weights
from nas.errors import ConfigError
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.model.slicing import load_sliced

ARCH = ArchConfig("mobilenetv3_small", 0.6, 1, 0.25, input_size=64)
TINY_DATA = ["--train-images", "32", "--val-images", "16", "--test-images", "16", "--device", "cpu", "--epochs",
             "1", "--batch-size", "16", "--aug", "1"]


@pytest.fixture()
def imagenet_dir(tmp_path, monkeypatch):
    """timm's MobileNetV3-small 0.75 classifier weights, as a user's offline copy would hold them."""
    model = timm.create_model("mobilenetv3_small_075", pretrained=False)
    with torch.no_grad():
        model.conv_stem.weight.normal_()
    torch.save(model.state_dict(), tmp_path / "mobilenetv3_small_075.pth")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    return tmp_path, model


def test_imagenet_weights_of_the_nearest_wider_width_are_sliced_into_the_backbone(imagenet_dir):
    _, source = imagenet_dir
    start = initial_weights("imagenet", ARCH)
    assert start.label == "imagenet:mobilenetv3_small_075 (width 0.75)" and start.partial
    model = build_model(ARCH, seed=5)
    head_before = model.head.upsample[3].weight.clone()
    load_sliced(model, start.tensors, start.partial)
    stem = model.backbone.conv_stem.weight
    assert torch.equal(stem, source.conv_stem.weight[: stem.shape[0]])
    assert torch.equal(model.head.upsample[3].weight, head_before)  # the head starts from scratch


def test_imagenet_refuses_a_width_timm_has_no_wider_weights_for(imagenet_dir):
    with pytest.raises(ConfigError, match="no mobilenetv3_small weights at width 1.25 or wider"):
        initial_weights("imagenet", ArchConfig("mobilenetv3_small", 1.25, 1, 0.25, input_size=64))


def test_an_unknown_init_is_named(tmp_path):
    with pytest.raises(ConfigError, match="'nope.pt' is none of scratch, supernet, imagenet"):
        initial_weights("nope.pt", ARCH)


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_retrain_starts_from_a_weights_file_or_imagenet_through_the_cli(tmp_path, cli_env, imagenet_dir):
    wider = build_model(ArchConfig("mobilenetv3_small", 1.0, 2, 0.5, input_size=64), seed=2)
    torch.save(wider.state_dict(), tmp_path / "wider.pt")
    (tmp_path / "arch.yaml").write_text(yaml.safe_dump(ARCH.to_dict()))
    env = {**cli_env, WEIGHTS_ENV: str(imagenet_dir[0])}
    for init, label in (("wider.pt", "file:wider.pt"), ("imagenet", "imagenet:mobilenetv3_small_075 (width 0.75)")):
        r = subprocess.run(cli("retrain", "arch.yaml", "--init", init, "-o", f"out-{init}", *TINY_DATA), env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert f"starting from {label}" in r.stdout
        metrics = json.loads((tmp_path / f"out-{init}" / "metrics.json").read_text())
        assert metrics["init"] == label
        assert yaml.safe_load((tmp_path / f"out-{init}" / "arch.yaml").read_text())["init"] == init
    r = subprocess.run(cli("retrain", "arch.yaml", "--init", "missing.pt", *TINY_DATA), env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "missing.pt" in r.stderr and r.stderr.count("\n") == 1
