"""Option groups: options declared once, spread into every command that takes the group, and packed
back into the dataclass the command receives; `retrain` turns them into the recipe and data it trains."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass
from typing import Annotated

import click
import pytest
import typer
from conftest import cli
from typer.main import get_command
from typer.testing import CliRunner

from nas.cli import app
from nas.cli.options import ArchOptions, RetrainOptions, with_options


@dataclass(frozen=True)
class _Group:
    count: Annotated[int, typer.Option(min=1, help="How many.")] = 3
    name: Annotated[str, typer.Option("--name")] = "x"


def _toy_app(seen: list) -> typer.Typer:
    toy = typer.Typer()

    @toy.command()
    @with_options
    def run(*, path: Annotated[str, typer.Argument()], group: _Group, flag: bool = False) -> None:
        seen.append((path, group, flag))

    @toy.command()
    def other() -> None:  # a second command keeps `run` a subcommand
        pass

    return toy


def test_a_group_is_parsed_into_its_dataclass():
    seen: list = []
    toy = _toy_app(seen)
    r = CliRunner().invoke(toy, ["run", "p", "--count", "5", "--flag"])
    assert r.exit_code == 0, r.output
    assert seen == [("p", _Group(count=5), True)]
    CliRunner().invoke(toy, ["run", "q"])
    assert seen[-1] == ("q", _Group(), False)  # the dataclass defaults are the options' defaults
    r = CliRunner().invoke(toy, ["run", "q", "--count", "0"])
    assert r.exit_code == 2 and len(seen) == 2  # the group's bounds hold before the command runs


def test_a_group_clashing_with_a_parameter_is_refused():
    def clash(*, count: int = 1, group: _Group) -> None:
        pass

    with pytest.raises(TypeError, match="repeats"):
        with_options(clash)


def _options(command: str) -> dict[str, click.Parameter]:
    group = get_command(app)
    return {p.name: p for p in group.commands[command].params}


@pytest.mark.parametrize("group, commands", [(RetrainOptions, ("retrain", "fidelity")),
                                             (ArchOptions, ("cost", "train"))])
def test_commands_sharing_a_group_take_the_same_options(group, commands):
    for command in commands:
        params = _options(command)
        for f in dataclasses.fields(group):
            p = params[f.name]
            assert p.default == f.default, (command, f.name)
    first, second = (_options(c) for c in commands)
    for f in dataclasses.fields(group):
        assert first[f.name].opts == second[f.name].opts
        assert first[f.name].help == second[f.name].help


def test_retrain_options_give_only_what_was_given():
    opts = RetrainOptions(epochs=3, lr=1e-3, device="cpu", train_images=40, val_images=8, test_images=8, data_seed=5)
    assert opts.recipe_overrides() == {"epochs": 3, "lr": 1e-3, "device": "cpu"}
    assert opts.recipe_overrides(aug=2)["aug_multiplier"] == 2
    data = dataclasses.asdict(opts.data_spec())
    assert {data[k] for k in ("train_images", "val_images", "test_images", "seed")} == {40, 8, 5}


def test_retrain_trains_the_recipe_and_data_of_its_options(tmp_path, cli_env):
    (tmp_path / "a.yaml").write_text("backbone: mobilenetv3_small\nbackbone_width: 0.35\nhead_depth: 1\n"
                                     "head_width: 0.25\ninput_size: 64\n")
    r = subprocess.run(cli("retrain", "a.yaml", "-o", "run", "--epochs", "1", "--lr", "1e-3", "--lr-min", "1e-4",
                           "--batch-size", "8", "--aug", "1", "--train-images", "16", "--val-images", "8",
                           "--test-images", "8", "--data-seed", "4", "--device", "cpu"),
                       env=cli_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    recipe = m["recipe"]
    assert (recipe["epochs"], recipe["lr"], recipe["lr_min"], recipe["batch_size"], recipe["aug_multiplier"]) == (
        1, 1e-3, 1e-4, 8, 1)
    assert recipe["loss"] == "dsnt" and recipe["device"] == "cpu"  # the rest: the file's (default) recipe
    assert (m["data"]["train_images"], m["data"]["val_images"], m["data"]["test_images"], m["data"]["seed"]) == (
        16, 8, 8, 4)
    assert len(m["history"]) == 1


def test_data_option_bounds_and_defaults_are_the_data_specs():
    from nas.cli.options import DATA_BOUNDS
    from nas.config import field_bounds
    from nas.data.spec import DataSpec

    assert DATA_BOUNDS == {name: field_bounds(DataSpec, name) for name in DATA_BOUNDS}
    assert RetrainOptions().data_spec() == DataSpec()
