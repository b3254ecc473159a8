"""Supernet training on real tiny data: the sandwich rule updates the shared weights, a run resumed
after an epoch ends exactly where an uninterrupted one does, and BatchNorm recalibration fits a child."""
from __future__ import annotations

import gc
import random

import pytest
import torch

from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.model.slicing import child_model
from nas.training.evaluation import evaluate
from nas.training.recipe import TrainConfig
from nas.training.supernet import epoch_steps, recalibrate_bn, train_supernet

PARENT = ArchConfig("mobilenetv3_small", 0.5, 2, 0.5, input_size=64)
SMALLEST = ArchConfig("mobilenetv3_small", 0.25, 1, 0.25, input_size=64)
MIDDLE = ArchConfig("mobilenetv3_small", 0.35, 2, 0.375, input_size=64)
RECIPE = TrainConfig(epochs=2, batch_size=16, device="cpu", seed=4)


def sandwich(rng: random.Random) -> list[ArchConfig]:
    return [PARENT, SMALLEST, rng.choice([SMALLEST, MIDDLE])]


def test_the_sandwich_rule_trains_the_shared_weights(tiny_data):
    train_d, _ = tiny_data
    parent = build_model(PARENT, seed=1)
    before = {k: v.clone() for k, v in parent.state_dict().items()}
    result = train_supernet(parent, train_d.subset(slice(0, 48)), RECIPE, sandwich)
    assert result.epochs == 2 and result.steps == 6 and all(x > 0 for x in result.losses)
    stem = parent.backbone.conv_stem.weight
    assert not torch.equal(stem, before["backbone.conv_stem.weight"])


def test_a_resumed_supernet_run_ends_exactly_where_an_uninterrupted_one_does(tiny_data):
    data, states = tiny_data[0].subset(slice(0, 32)), []
    straight = build_model(PARENT, seed=1)
    train_supernet(straight, data, RECIPE, sandwich, on_state=states.append)
    assert [s.steps for s in states] == [2, 4]
    resumed = build_model(PARENT, seed=9)  # other weights: everything must come from the state
    result = train_supernet(resumed, data, RECIPE, sandwich, resume=states[0])
    assert result.epochs == 2 and len(result.losses) == 1
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_step_budget_may_end_inside_an_epoch_and_anneals_the_learning_rate_over_exactly_its_steps(tiny_data):
    states = []
    result = train_supernet(build_model(PARENT, seed=1), tiny_data[0].subset(slice(0, 32)), RECIPE, sandwich,
                            on_state=states.append, steps=epoch_steps(RECIPE, 32, 1.5))
    assert result.steps == 3 and result.epochs == 1.5 and len(result.losses) == 2
    assert [s.steps for s in states] == [2, 3]
    assert states[-1].scheduler["_last_lr"][0] == pytest.approx(RECIPE.lr_min)


def test_recalibrated_batchnorm_fits_the_child_and_leaves_the_parent_alone(tiny_data):
    train_d, val_d = tiny_data
    parent = build_model(PARENT, seed=1)
    train_supernet(parent, train_d.subset(slice(0, 32)), TrainConfig(epochs=1, batch_size=16, device="cpu"), sandwich)
    parent_stats = parent.backbone.bn1.running_mean.clone()
    child = recalibrate_bn(child_model(parent, SMALLEST), train_d, images=64, batch_size=32)
    assert not child.training
    again = recalibrate_bn(child_model(parent, SMALLEST), train_d, images=64, batch_size=16)
    assert torch.allclose(child.backbone.bn1.running_mean, again.backbone.bn1.running_mean, atol=1e-5)
    assert torch.equal(parent.backbone.bn1.running_mean, parent_stats)
    assert torch.isfinite(torch.tensor(evaluate(child, val_d, "dsnt").px_error))


def test_a_finished_supernet_run_leaves_nothing_for_the_cycle_collector(tiny_data):
    gc.collect()
    gc.disable()
    try:
        before = sum(type(o) is torch.optim.Adam for o in gc.get_objects())
        train_supernet(build_model(PARENT, seed=1), tiny_data[0].subset(slice(0, 32)), RECIPE, sandwich, steps=2)
        assert sum(type(o) is torch.optim.Adam for o in gc.get_objects()) == before
    finally:
        gc.enable()
