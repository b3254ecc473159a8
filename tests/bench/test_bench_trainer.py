"""bench/bench_trainer.py's evaluation figures: the arms run on the CPU, and the share of a gpu.yaml
trial that evaluation takes follows from gpu.yaml's proxy and the measured speeds."""
from __future__ import annotations

import math

import torch
from bench_trainer import GPU_SPACE, eval_arms, eval_share

from nas.data import DataSpec, load_for_space
from nas.model.arch import ArchConfig
from nas.search.space import load_space


def test_evaluation_is_measured_on_the_cpu_without_the_cuda_arms():
    data, _ = load_for_space(DataSpec(seed=5), 40, 8, 64)
    arms = eval_arms(ArchConfig("mobilenetv3_small", 0.25, 1, 0.125, input_size=64), data, torch.device("cpu"))
    assert list(arms) == ["eval"] and math.isfinite(arms["eval"]) and arms["eval"] > 0


def test_the_evaluation_share_weighs_gpu_yamls_evaluated_images_against_one_training_pass():
    space = load_space(GPU_SPACE)
    evaluated = space.proxy.val_images + (space.search.checks_per_epoch - 1) * space.search.check_images
    assert evaluated != space.proxy.train_images  # equal speeds alone would not tell the two apart
    # evaluation at exactly one second per epoch, training too: half the trial
    share = eval_share(space.proxy.train_images, {"eval": evaluated})
    assert share == {"eval_share_estimate": 0.5}
    # at equal speeds the share is the evaluated images' share; a captured arm twice as fast saves half of
    # it, four times as fast three quarters
    share = eval_share(1000.0, {"eval": 1000.0, "eval_graph": 2000.0, "eval_bf16_graph": 4000.0})
    expected = evaluated / (evaluated + space.proxy.train_images)
    assert share["eval_share_estimate"] == round(expected, 3)
    assert share["eval_graph_saves_estimate"] == round(expected / 2, 3)
    assert share["eval_bf16_graph_saves_estimate"] == round(expected * 3 / 4, 3)
