"""Memory format: a channels_last model computes what the default (contiguous) one does, trains to
the same errors, and the layout a run used is resolved and recorded."""
from __future__ import annotations

import copy

import pytest
import torch

from nas.errors import ConfigError
from nas.keypoints.losses import heatmap_loss
from nas.model.arch import ArchConfig
from nas.model.network import HEATMAP_STRIDE, build_model
from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nas.training.device import memory_format_of, resolve_memory_format, resolve_recipe, to_memory_format
from nas.training.evaluation import keypoint_distances, to_input
from nas.training.recipe import TrainConfig
from nas.training.trainer import train

ARCH = ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64)
FORMATS = ("contiguous", "channels_last")


def _is_channels_last(model: torch.nn.Module) -> bool:
    stem = next(p for p in model.parameters() if p.dim() == 4)
    return stem.is_contiguous(memory_format=torch.channels_last) and not stem.is_contiguous()


@pytest.mark.parametrize("backbone", ["mobilenetv3_small", "mobilenetv2"])
def test_a_channels_last_model_gives_the_same_outputs(tiny_data, backbone):
    model = build_model(ArchConfig(backbone, 0.35, 1, 0.25, input_size=64), seed=0).eval()
    fast = to_memory_format(copy.deepcopy(model), "channels_last")
    assert _is_channels_last(fast) and memory_format_of(fast) == "channels_last"
    x = to_input(tiny_data[1].images[:16])
    with torch.no_grad():
        ref, out = model(x), fast(to_memory_format(x, "channels_last"))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert (out - ref).abs().max() <= 1e-5 * ref.abs().max()
    # evaluation feeds each model batches in its own layout and decodes the same keypoints
    fed = []
    fast.register_forward_pre_hook(lambda _m, a: fed.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    d_ref, _ = keypoint_distances(model, tiny_data[1], "dsnt", batch_size=16)
    d_out, _ = keypoint_distances(fast, tiny_data[1], "dsnt", batch_size=16)
    assert fed == [True, True] and (d_out - d_ref).abs().max() < 1e-3


def test_one_training_step_has_the_same_loss_and_gradients(tiny_data):
    # train mode: BatchNorm uses batch statistics, which PyTorch's CPU channels_last kernel sums less
    # precisely than the contiguous one (measured 20-50x the error): equal to ~1e-5, not to rounding
    train_data = tiny_data[0]
    x, kp, w = to_input(train_data.images[:16]), train_data.keypoints[:16], (train_data.visibility[:16] > 0).float()
    base = build_model(ARCH, seed=0).train()
    losses, grads = [], []
    for fmt in FORMATS:
        model = to_memory_format(copy.deepcopy(base), fmt)
        loss = heatmap_loss("dsnt", model(to_memory_format(x, fmt)), kp, w, HEATMAP_STRIDE, 2.0)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert (grads[1] - grads[0]).norm() <= 2e-2 * grads[0].norm()  # measured 3e-4 (1 thread), 3e-3 (2)


def test_two_epochs_give_the_same_validation_errors_in_both_formats(tiny_data):
    runs = {fmt: train(build_model(ARCH, seed=1), *tiny_data, TrainConfig(epochs=2, batch_size=16, device="cpu",
                                                                         memory_format=fmt)) for fmt in FORMATS}
    ref, fast = runs["contiguous"], runs["channels_last"]
    assert (ref.memory_format, fast.memory_format) == FORMATS
    assert [h.px_error for h in fast.history] == pytest.approx([h.px_error for h in ref.history], abs=1e-2)
    assert [h.train_loss for h in fast.history] == pytest.approx([h.train_loss for h in ref.history], rel=1e-2)


def test_auto_is_channels_last_on_cpu_and_is_recorded(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu")
    assert cfg.memory_format == "auto"
    resolved = resolve_recipe(cfg)
    assert resolved.memory_format == "channels_last" and resolved.device == "cpu"
    assert TrainConfig.from_dict(resolved.to_dict()) == resolved
    model = build_model(ARCH)
    fed = []  # the layout of every batch the model sees: training (after augmentation) and validation
    model.register_forward_pre_hook(lambda _m, a: fed.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    path = tmp_path / "ck.pt"
    result = train(model, *tiny_data, cfg, on_state=lambda s: save_checkpoint(path, Checkpoint(ARCH, resolved, s)))
    assert result.memory_format == "channels_last" and _is_channels_last(model)
    assert len(fed) == len(tiny_data[0]) // 16 + 1 and all(fed)
    ck = load_checkpoint(path)
    assert ck.recipe.memory_format == "channels_last" and ck.state.result.memory_format == "channels_last"


@pytest.mark.parametrize("device, expected", [("cpu", "channels_last"), ("cuda", "contiguous")])
def test_auto_resolves_by_device(device, expected):
    assert resolve_memory_format("auto", torch.device(device)) == expected
    for fmt in FORMATS:  # a named format is used as given, everywhere
        assert resolve_memory_format(fmt, torch.device(device)) == fmt


def test_an_unknown_memory_format_is_a_config_error():
    with pytest.raises(ConfigError, match="memory_format"):
        TrainConfig(memory_format="nhwc")


def test_a_run_resumed_in_another_format_continues(tiny_data, tmp_path):
    """Checkpointed in contiguous, resumed in channels_last: training goes on from the saved epoch,
    Adam's state takes the new layout, and the curve stays the uninterrupted run's within tolerance."""
    cfg = TrainConfig(epochs=2, batch_size=16, device="cpu", memory_format="contiguous")
    full = train(build_model(ARCH, seed=1), *tiny_data, cfg)
    path = tmp_path / "ck.pt"

    class Stop(Exception):
        pass

    def save_then_stop(state):
        save_checkpoint(path, Checkpoint(ARCH, cfg, state))
        raise Stop

    with pytest.raises(Stop):
        train(build_model(ARCH, seed=1), *tiny_data, cfg, on_state=save_then_stop)
    other = TrainConfig(epochs=2, batch_size=16, device="cpu", memory_format="channels_last")
    resumed = train(build_model(ARCH, seed=1), *tiny_data, other, resume=load_checkpoint(path).state)
    assert resumed.memory_format == "channels_last" and [h.epoch for h in resumed.history] == [1, 2]
    first, saved = resumed.history[0], full.history[0]  # the saved epoch, as it was
    assert (first.px_error, first.train_loss) == (saved.px_error, saved.train_loss)
    assert resumed.history[1].px_error == pytest.approx(full.history[1].px_error, abs=1e-2)


def test_a_checkpoint_from_before_the_memory_format_loads(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu")
    path = tmp_path / "ck.pt"
    train(build_model(ARCH), *tiny_data, cfg, on_state=lambda s: save_checkpoint(path, Checkpoint(ARCH, cfg, s)))
    payload = torch.load(path, weights_only=True)
    del payload["recipe"]["memory_format"], payload["state"]["result"]["memory_format"]
    torch.save(payload, path)
    ck = load_checkpoint(path)
    assert ck.recipe.memory_format == "auto"  # the field's default
    assert ck.state.result.memory_format == "contiguous"  # what every run trained in before the field
    again = train(build_model(ARCH), *tiny_data, cfg, resume=ck.state)  # finished: returns its result
    assert [h.epoch for h in again.history] == [1] and again.memory_format == "channels_last"


def test_training_flushes_denormals_and_puts_the_setting_back(tiny_data):
    from nas.training.device import _denormals_flushed, flush_denormals

    seen = []
    train_d, val_d = tiny_data
    assert not _denormals_flushed()
    train(build_model(ARCH), train_d.subset(slice(0, 8)), val_d, TrainConfig(epochs=1, batch_size=8, device="cpu"),
          on_epoch=lambda _: seen.append(_denormals_flushed()))
    assert seen == [True] and not _denormals_flushed()
    with pytest.raises(KeyError), flush_denormals(torch.device("cpu")):
        assert _denormals_flushed()
        raise KeyError("left early")
    assert not _denormals_flushed()
