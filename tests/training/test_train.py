"""Real (tiny) training runs on the built-in synthetic hands at 64 px."""
from __future__ import annotations

import gc
import math

import pytest
import torch

from nas.data import KeypointDataset
from nas.errors import ConfigError, TrainingDiverged
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.search.proxy.scratch import evaluate_candidate
from nas.training.evaluation import evaluate
from nas.training.recipe import TrainConfig
from nas.training.trainer import train

ARCH = ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64)


def test_training_lowers_the_error_and_keeps_the_best_weights(tiny_data):
    # ~240 steps on 96 images: enough to leave the mean-pose plateau (from scratch the first few
    # hundred steps mostly learn where hands are). Half as many left it by 0.1-0.6 px depending on
    # float rounding alone; these lowered the error by 1.4-2.1 px over four seeds
    train_data, val_data = tiny_data
    model = build_model(ArchConfig("mobilenetv3_small", 0.5, 1, 0.5, input_size=64))
    before = evaluate(model, val_data, "dsnt").px_error
    cfg = TrainConfig(epochs=8, batch_size=16, aug_multiplier=5, lr=4e-3, lr_min=1e-4, device="cpu")
    result = train(model, train_data, val_data, cfg)
    assert len(result.history) == 8
    losses = [h.train_loss for h in result.history]
    assert losses[-1] < 0.98 * losses[0], losses
    assert result.px_error < before - 0.5, (before, [h.px_error for h in result.history])
    assert result.px_error == min(h.px_error for h in result.history)
    # the model ends with the best epoch's weights: evaluating it reproduces the best error
    assert evaluate(model, val_data, "dsnt").px_error == pytest.approx(result.px_error, rel=1e-5)
    assert result.images_per_s > 0 and 0 <= result.pck <= 1 and 0 <= result.auc <= 1


def test_errors_are_scaled_to_the_target_size(tiny_data):
    train_data, val_data = tiny_data
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu", rotation=0)
    native = train(build_model(ARCH), train_data, val_data, cfg)
    scaled = train(build_model(ARCH), train_data, val_data, cfg, target_size=224)
    assert scaled.px_scale == pytest.approx(3.5)
    assert scaled.px_error == pytest.approx(native.px_error * 3.5, rel=1e-4)


def test_per_sample_scale_gives_errors_in_original_pixels(tiny_data):
    # retrain reports the test error in each image's original pixels: distances / its resize scale
    from nas.keypoints.metrics import keypoint_errors
    from nas.training.evaluation import predict_keypoints

    _, val = tiny_data
    model = build_model(ARCH).eval()
    scale = torch.linspace(0.25, 2.0, len(val))
    with torch.no_grad():
        d, _ = keypoint_errors(predict_keypoints(model, val.images, "dsnt"), val.keypoints, val.visibility)
    mask = val.visibility > 0
    expected = float((d / scale[:, None])[mask].mean())
    got = evaluate(model, val, "dsnt", batch_size=7, px_scale=1 / scale).px_error
    assert got == pytest.approx(expected, rel=1e-5)
    assert got != pytest.approx(evaluate(model, val, "dsnt").px_error, rel=1e-2)


def test_candidate_score_uses_cost_at_deployed_size(tiny_data):
    train_data, val_data = tiny_data
    arch = ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=224)
    r = evaluate_candidate(arch, TrainConfig(epochs=1, batch_size=16, device="cpu"), train_data, val_data)
    assert r.estimate
    assert r.cost.input_size == 224
    assert r.score == pytest.approx(r.cost.gflops * r.cost.mparams * math.exp(r.px_error))


def test_nan_loss_raises_training_diverged(tiny_data):
    train_data, val_data = tiny_data
    bad = KeypointDataset(train_data.images, torch.full_like(train_data.keypoints, float("nan")),
                          train_data.visibility)
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        train(build_model(ARCH), bad, val_data, TrainConfig(epochs=1, batch_size=16, device="cpu"))


def test_on_epoch_can_stop_training(tiny_data):
    class Stop(Exception):
        pass

    seen = []

    def on_epoch(stats):
        seen.append(stats.epoch)
        raise Stop

    with pytest.raises(Stop):
        train(build_model(ARCH), *tiny_data, TrainConfig(epochs=3, batch_size=16, device="cpu"), on_epoch=on_epoch)
    assert seen == [1]


def live_optimizers() -> int:
    """Adam objects Python still tracks, unreachable ones not yet collected included."""
    return sum(type(o) is torch.optim.Adam for o in gc.get_objects())


def test_a_finished_or_stopped_run_leaves_nothing_for_the_cycle_collector(tiny_data):
    # a run's optimizer (on CUDA also its captured graph and the graph's memory) must go when the run
    # ends, finished or stopped by its caller (a pruned trial), not wait for a garbage collection
    class Stop(Exception):
        pass

    def stop(stats):
        raise Stop

    gc.collect()
    gc.disable()
    try:
        before = live_optimizers()
        train(build_model(ARCH), *tiny_data, TrainConfig(epochs=1, batch_size=16, device="cpu"))
        try:
            train(build_model(ARCH), *tiny_data, TrainConfig(epochs=2, batch_size=16, device="cpu"), on_epoch=stop)
        except Stop:
            pass
        assert live_optimizers() == before
    finally:
        gc.enable()


def test_aug_multiplier_multiplies_steps(tiny_data):
    steps = []
    cfg = TrainConfig(epochs=1, batch_size=16, aug_multiplier=3, device="cpu")
    train(build_model(ARCH), *tiny_data, cfg, on_step=lambda done, total: steps.append(total))
    assert steps[-1] == 3 * (len(tiny_data[0]) // 16)
    assert len(steps) == steps[-1]


@pytest.mark.parametrize("kw, needle", [({"epochs": 0}, "epochs"), ({"loss": "l2"}, "loss"),
                                        ({"lr_min": 1.0}, "lr_min"), ({"rotation": 200}, "rotation")])
def test_bad_recipe(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(**kw)


def test_cuda_request_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from nas.training.device import resolve_device

    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")


def test_resuming_from_a_saved_state_continues_exactly(tiny_data, tmp_path):
    """Stop after epoch 2 (via the checkpoint file), resume: the same curve as one uninterrupted run."""
    from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    train_data, val_data = tiny_data
    cfg = TrainConfig(epochs=4, batch_size=16, lr=4e-3, lr_min=1e-4, device="cpu")
    full = train(build_model(ARCH, seed=1), train_data, val_data, cfg)

    class Stop(Exception):
        pass

    path = tmp_path / "ck.pt"

    def save_then_stop(state):
        save_checkpoint(path, Checkpoint(ARCH, cfg, state))
        if state.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        train(build_model(ARCH, seed=1), train_data, val_data, cfg, on_state=save_then_stop)
    ck = load_checkpoint(path)
    assert ck.epoch == 2 and not ck.finished and len(ck.state.result.history) == 2
    resumed = train(build_model(ARCH, seed=1), train_data, val_data, cfg, resume=ck.state)
    assert [h.px_error for h in resumed.history] == [h.px_error for h in full.history]
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in full.history]
    assert resumed.best_epoch == full.best_epoch


def test_checkpoint_errors_name_the_file(tmp_path):
    from nas.training.checkpoint import load_checkpoint

    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(ConfigError, match="missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="other.pt: not a handkp-search checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


@pytest.mark.parametrize("loss", ["mse", "integral"])
def test_each_loss_trains_and_its_model_is_evaluated_with_its_decoder(tiny_data, loss):
    # the trainer's validation and a later evaluate read the maps the same way (one decoder per loss)
    train_data, val_data = tiny_data
    model = build_model(ARCH)
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu", loss=loss)
    result = train(model, train_data, val_data, cfg)
    assert math.isfinite(result.loss) and result.best_epoch == 1
    assert evaluate(model, val_data, loss).px_error == pytest.approx(result.px_error, rel=1e-5)


def test_resuming_past_the_recipe_is_a_config_error(tiny_data, tmp_path):
    from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    train_data, val_data = tiny_data
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu")
    path = tmp_path / "ck.pt"
    save = lambda state: save_checkpoint(path, Checkpoint(ARCH, cfg, state))  # noqa: E731
    train(build_model(ARCH), train_data, val_data, cfg, on_state=save)
    state = load_checkpoint(path).state
    assert state.epoch == 1
    # a finished run resumed with the same recipe trains no further and returns its result
    again = train(build_model(ARCH), train_data, val_data, cfg, resume=state)
    assert [h.epoch for h in again.history] == [1]
    state.epoch = 2
    with pytest.raises(ConfigError, match="cannot resume after epoch 2: the recipe has only 1"):
        train(build_model(ARCH), train_data, val_data, cfg, resume=state)


def test_reading_a_recipe_or_an_architecture_does_not_import_timm():
    import subprocess
    import sys

    code = "import sys, nas.training.recipe, nas.model.arch, nas.model, nas.training; print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
