from __future__ import annotations

from pathlib import Path

import pytest

from nas.errors import ConfigError
from nas.search.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[2]


def _holds(written, stored, where="file"):
    """Every value written in the file reaches the loaded space (which may add defaults beside it)."""
    if isinstance(written, dict):
        assert isinstance(stored, dict), where
        for key, value in written.items():
            assert key in stored, f"{where}.{key}"
            _holds(value, stored[key], f"{where}.{key}")
    else:
        assert stored == written, (where, written, stored)


@pytest.mark.parametrize("name", ["default.yaml", "quick.yaml", "gpu.yaml", "quick128.yaml"])
def test_shipped_spaces_load_with_every_written_value(name):
    import yaml

    path = ROOT / "search_spaces" / name
    space = load_space(path)
    # a loader that ignored the file (or a key of it) and kept the defaults fails here: each file sets
    # values other than the defaults (gpu.yaml: 2 epochs of 2,000 images, 256 check images, ...)
    _holds(yaml.safe_load(path.read_text()), space.to_dict())
    assert space.input_size == (128 if name == "quick128.yaml" else 224)
    assert set(space.choices.backbone) == {"mobilenetv2", "mobilenetv3_small"}
    assert space.choices.head_depth.low == 1 and space.choices.head_depth.high == 4
    assert space.choices.aug_multiplier.low == 1 and space.choices.aug_multiplier.high == 8


def test_the_loaded_values_are_the_ones_the_search_uses():
    """to_dict() is read back from the parsed objects: the GPU space's proxy recipe, budget and checks."""
    space = load_space(ROOT / "search_spaces/gpu.yaml")
    assert (space.proxy.recipe.epochs, space.proxy.train_images, space.proxy.val_images) == (2, 2000, 1000)
    assert (space.search.checks_per_epoch, space.search.check_images, space.search.prune_warmup_epochs) == (4, 256, 1)


@pytest.mark.parametrize("name", ["quick.yaml", "gpu.yaml", "quick128.yaml"])
def test_the_sized_spaces_search_the_default_spaces_architectures(name):
    """The same sampler draws give the same architectures (the proxy is all that differs), deployed at
    each space's input size; the GPU space trains at it, so its errors are no estimates."""
    import optuna

    from nas.search.sampling import arch_from_params, suggest_params

    default, other = load_space(ROOT / "search_spaces/default.yaml"), load_space(ROOT / "search_spaces" / name)

    def draws(space):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        archs = [arch_from_params(suggest_params(study.ask(), space, space.choices.aug_multiplier), space)
                 for _ in range(12)]
        return [(a.backbone, a.backbone_width, a.head_depth, a.head_width) for a in archs]

    assert draws(other) == draws(default)
    if name == "gpu.yaml":
        assert other.proxy.train_size == other.input_size == 224


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


@pytest.mark.parametrize(
    "text, needle",
    [
        ("proxy: {lr: 2.0}", "proxy.lr: 2.0 is out of range (allowed: 1e-07 to 1.0)"),  # TrainConfig
        ("proxy: {lr: 0.001, lr_min: 0.01}", "proxy.lr_min: 0.01 is above lr 0.001"),  # TrainConfig, across fields
        ("proxy: {train_images: 2}", "proxy.train_images: 2 is out of range (allowed: 8 to"),  # ProxyBudget
        ("data: {max_bad: 1.5}", "data.max_bad: 1.5 is out of range (allowed: 0.0 to 0.99)"),  # DataSpec
        ("data: {format: xml}", "data.format: 'xml' is not allowed (allowed: auto, csv"),  # DataSpec choice
        ("search: {startup_trials: 2.5}", "search.startup_trials: 2.5 is not an integer"),  # SearchSettings
        ("space: {head_depth: {low: 1, high: 9}}", "space.head_depth.high: 9 is out of range (allowed: 1 to 8)"),
        ("space: {aug_multiplier: 0}", "space.aug_multiplier: 0 is out of range (allowed: 1 to 32)"),
        ("input_size: 2048", "input_size: 2048 is out of range (allowed: 32 to 1024)"),  # ArchConfig's bounds
    ],
)
def test_out_of_bounds_values_name_file_and_key_path(tmp_path, text, needle):
    p = tmp_path / "quick.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_space(p)
    assert str(info.value).startswith(f"{p}: ")
    assert needle in str(info.value)


def test_ranges_use_the_bounds_the_configs_declare():
    from nas.model.arch import ArchConfig
    from nas.training.recipe import TrainConfig

    # the largest head depth an ArchConfig accepts is also the largest a space may sample, and no more
    top = parse_space({"space": {"head_depth": {"low": 1, "high": 8}}}).choices.head_depth.high
    ArchConfig(head_depth=top)
    with pytest.raises(ConfigError):
        ArchConfig(head_depth=top + 1)
    TrainConfig(aug_multiplier=parse_space({"space": {"aug_multiplier": 32}}).choices.aug_multiplier.high)


@pytest.mark.parametrize("name", ["default.yaml", "quick.yaml", "quick128.yaml"])
def test_the_flat_proxy_section_is_the_proxy_recipe_and_round_trips(name):
    import yaml

    raw = yaml.safe_load((ROOT / "search_spaces" / name).read_text())
    space = load_space(ROOT / "search_spaces" / name)
    recipe = space.proxy.recipe
    assert (recipe.epochs, recipe.batch_size, recipe.lr, recipe.lr_min, recipe.loss) == tuple(
        raw["proxy"][k] for k in ("epochs", "batch_size", "lr", "lr_min", "loss"))
    # the stored form is the flat section as written: a study stored before compares equal
    assert space.to_dict()["proxy"] == {k: raw["proxy"][k] for k in space.to_dict()["proxy"]}
    assert space.to_dict()["data"] == {"source": "synthetic", "seed": 0, "format": "auto", "max_bad": 0.01}
    assert parse_space(space.to_dict(), space.source) == space


def test_updated_proxy_changes_recipe_and_budget_keys_alike():
    proxy = load_space(ROOT / "search_spaces/quick.yaml").proxy.updated(epochs=2, train_images=64)
    assert proxy.recipe.epochs == 2 and proxy.train_images == 64
    with pytest.raises(ConfigError, match="proxy.epochs: 0 is out of range"):
        proxy.updated(epochs=0)
