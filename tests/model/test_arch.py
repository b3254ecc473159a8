from __future__ import annotations

import pytest

from nas.errors import ConfigError
from nas.model.arch import ArchConfig


def test_yaml_and_json_round_trip():
    arch = ArchConfig("mobilenetv2", 0.75, 3, 1.25, 192)
    assert ArchConfig.from_yaml(arch.to_yaml()) == arch
    assert ArchConfig.from_json(arch.to_json()) == arch


def test_frozen():
    with pytest.raises(AttributeError):
        ArchConfig().head_depth = 3  # type: ignore[misc]


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
