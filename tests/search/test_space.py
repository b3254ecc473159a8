from __future__ import annotations

from pathlib import Path

import pytest

from nas.errors import ConfigError
from nas.search.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["default.yaml", "quick.yaml"])
def test_shipped_spaces_load(name):
    space = load_space(ROOT / "search_spaces" / name)
    assert space.input_size == 224
    assert set(space.choices.backbone) == {"mobilenetv2", "mobilenetv3_small"}
    assert space.choices.head_depth.low == 1 and space.choices.head_depth.high == 4
    assert space.choices.aug_multiplier.low == 1 and space.choices.aug_multiplier.high == 8


def test_quick_is_the_default_space_with_a_smaller_proxy():
    default, quick = load_space(ROOT / "search_spaces/default.yaml"), load_space(ROOT / "search_spaces/quick.yaml")
    assert quick.choices == default.choices
    assert quick.proxy.train_size < default.proxy.train_size
    assert quick.proxy.train_images < default.proxy.train_images


@pytest.mark.parametrize(
    "text, needle",
    [
        ("space: [unclosed", "not valid YAML at line 1"),
        ("spaces: {}", "spaces: unknown key"),
        ("proxy: {epochz: 3}", "proxy.epochz: unknown key"),
        ("proxy: {epochs: 0}", "proxy.epochs: 0 is out of range (allowed: 1 to 1000)"),
        ("proxy: {loss: l2}", "proxy.loss: 'l2' is not allowed"),
        ("space: {backbone: [resnet50]}", "space.backbone: unknown backbone 'resnet50' (allowed: mobilenetv2"),
        ("space: {backbone_width: {low: 0.1, high: 1.0}}", "space.backbone_width.low: 0.1 is out of range"),
        ("space: {head_depth: {low: 3, high: 2}}", "space.head_depth: low 3 is above high 2"),
        ("input_size: 100", "input_size: 100 is not a multiple of 16"),
        ("search: {prune_percentile: 120}", "search.prune_percentile: 120 is out of range"),
        ("- just a list", "expected a mapping"),
    ],
)
def test_bad_space_files_name_file_and_key(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_space(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")
    assert needle in msg
    assert "\n" not in msg


def test_missing_file():
    with pytest.raises(ConfigError, match="nope.yaml: cannot read"):
        load_space("nope.yaml")


def test_single_values_fix_a_parameter():
    space = parse_space({"space": {"backbone": "mobilenetv3_small", "head_depth": 2, "backbone_width": 0.5}})
    assert space.choices.backbone == ("mobilenetv3_small",)
    assert space.choices.head_depth.low == space.choices.head_depth.high == 2
    assert space.choices.backbone_width.low == 0.5
