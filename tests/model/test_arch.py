from __future__ import annotations

import pytest

from nas.errors import ConfigError
from nas.model.arch import ArchConfig


def test_yaml_and_json_round_trip():
    arch = ArchConfig("mobilenetv2", 0.75, 3, 1.25, 192)
    assert ArchConfig.from_yaml(arch.to_yaml()) == arch
    assert ArchConfig.from_json(arch.to_json()) == arch


def test_yaml_integers_and_floats_give_one_config():
    # `backbone_width: 1` and `head_depth: 2.0` are the same architecture as 1.0 and 2: equal, and stored alike
    written = ArchConfig.from_yaml("backbone_width: 1\nhead_depth: 2.0\nhead_width: 1\n")
    assert written == ArchConfig() and written.to_json() == ArchConfig().to_json()
    assert isinstance(written.backbone_width, float) and isinstance(written.head_depth, int)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"backbone_width": 1.6}, "my.yaml: backbone_width: 1.6 is out of range (allowed: 0.25 to 1.5)"),
        ({"input_size": 100}, "my.yaml: input_size: 100 is not a multiple of 16"),
        ({"head_depth": True}, "my.yaml: head_depth: True is not an integer"),
        ({"backbone": "resnet50"}, "my.yaml: backbone: 'resnet50' is not allowed (allowed: mobilenetv2"),
    ],
)
def test_bad_values_in_a_file_say_what_is_allowed(data, needle):
    with pytest.raises(ConfigError) as info:
        ArchConfig.from_dict(data, "my.yaml")
    assert str(info.value).startswith(needle)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"backbone": "resnet50"}, "backbone"),
        ({"backbone_width": 2.0}, "backbone_width"),
        ({"head_depth": 0}, "head_depth"),
        ({"head_depth": 1.5}, "head_depth"),
        ({"input_size": 100}, "input_size"),
        ({"colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_bad_values_name_the_key(data, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        ArchConfig.from_dict(data, "my.yaml")
    assert str(info.value).startswith("my.yaml: ")


def test_load_reports_file(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("backbone: [unclosed\n")
    with pytest.raises(ConfigError, match=str(p)):
        ArchConfig.load(p)
    with pytest.raises(ConfigError, match="missing.yaml"):
        ArchConfig.load(tmp_path / "missing.yaml")
