"""The loop both trainers share: a step that cannot be captured falls back to the eager step on the
same batch (the run goes on, the result says why), and a diverging supernet raises the trainer's error."""
from __future__ import annotations

import pytest
import torch

from nas.data import KeypointDataset
from nas.errors import TrainingDiverged
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.training import loop as shared
from nas.training.graph_step import CaptureFailed, EagerStep
from nas.training.recipe import TrainConfig
from nas.training.supernet import train_supernet
from nas.training.trainer import train

ARCH = ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64)
RECIPE = TrainConfig(epochs=1, batch_size=16, device="cpu", seed=3)


class _Uncapturable(EagerStep):
    """A step whose capture fails on its first call, as an op CUDA graphs cannot record would."""

    calls = 0

    def __call__(self, *batch):
        _Uncapturable.calls += 1
        raise CaptureFailed("RuntimeError: operation not permitted when stream is capturing")


def test_a_failed_capture_falls_back_to_the_eager_step_and_the_result_says_so(tiny_data, monkeypatch):
    train_d, val_d = tiny_data
    plain = train(build_model(ARCH, seed=1), train_d, val_d, RECIPE)
    real = shared.make_step

    def make_step(loop, loss_fn, captured):
        step = real(loop, loss_fn, captured=False)
        return step if loop.note else _Uncapturable(loss_fn, loop.opt, loop.sched, loop.scaler)

    monkeypatch.setattr(shared, "make_step", make_step)
    monkeypatch.setattr("nas.training.trainer.make_step", make_step)
    with pytest.warns(RuntimeWarning, match="could not be captured"):
        fell_back = train(build_model(ARCH, seed=1), train_d, val_d, RECIPE)
    assert _Uncapturable.calls == 1  # the eager step took over for the rest of the run
    assert "could not be captured" in fell_back.note and not fell_back.cuda_graph
    # the failed call trained nothing: the fallback run is the same run, step for step
    assert [h.train_loss for h in fell_back.history] == [h.train_loss for h in plain.history]
    assert fell_back.px_error == plain.px_error


def test_a_diverging_supernet_raises_training_diverged(tiny_data):
    train_d, _ = tiny_data
    bad = KeypointDataset(train_d.images[:32], torch.full_like(train_d.keypoints[:32], float("nan")),
                          train_d.visibility[:32])
    parent = build_model(ArchConfig("mobilenetv3_small", 0.5, 2, 0.5, input_size=64), seed=1)
    with pytest.raises(TrainingDiverged, match="epoch 1, step 0"):
        train_supernet(parent, bad, RECIPE, lambda rng: [parent.arch])
