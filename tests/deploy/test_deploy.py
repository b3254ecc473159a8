"""The deploy library on tiny real runs: a retrain's outputs and resume identity, the architecture
file's recipe, and the ONNX pass/fail decision."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from nas.data.spec import DataSpec
from nas.deploy.export import ExportError, OnnxCheck
from nas.deploy.retrain import retrain
from nas.deploy.spec import ArchSpec
from nas.errors import ConfigError
from nas.model.arch import ArchConfig
from nas.training.recipe import FULL_EPOCHS, full_recipe

ARCH = ArchConfig("mobilenetv3_small", 0.25, 1, 0.25, input_size=64)
DATA = DataSpec(seed=3, train_images=32, val_images=16, test_images=16)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, synth_cache):
    """A one-epoch retrain of a tiny model into a folder, shared by this module."""
    spec = ArchSpec(ARCH, full_recipe(1, epochs=1, batch_size=16, device="cpu"))
    out = tmp_path_factory.mktemp("retrain") / "run"
    return spec, out, retrain(spec, DATA, out, cache_dir=synth_cache)


def test_retrain_writes_metrics_curves_and_predictions(finished_run):
    spec, out, result = finished_run
    assert {p.name for p in result.files.values()} == {"metrics.json", "curves.html", "predictions.png",
                                                       "checkpoint.pt", "arch.yaml"}
    m = json.loads((out / "metrics.json").read_text())
    assert m == json.loads(json.dumps(result.metrics))
    assert m["score"] == pytest.approx(m["gflops"] * m["mparams"] * math.exp(m["test_px_error"]))
    assert m["data"] == DATA.to_dict() and m["epochs"] == 1 and len(m["history"]) == 1
    assert ArchSpec.load(out / "arch.yaml") == spec


def test_rerunning_a_finished_retrain_only_rewrites_its_outputs(finished_run, synth_cache):
    spec, out, result = finished_run
    (out / "metrics.json").unlink()
    again = retrain(spec, DATA, out, cache_dir=synth_cache)
    assert again.metrics["history"] == result.metrics["history"]
    assert again.metrics["test_px_error"] == result.metrics["test_px_error"]
    assert (out / "metrics.json").exists()


@pytest.mark.parametrize(
    "data, needle",
    [
        (replace(DATA, seed=4), "data.seed: 3 -> 4"),
        (replace(DATA, source="my_hands"), "data.source: 'synthetic' -> 'my_hands'"),
        (replace(DATA, train_images=64), "data.train_images: 32 -> 64"),
    ],
)
def test_a_folder_trained_on_other_data_is_refused(finished_run, data, needle):
    spec, out, _ = finished_run
    with pytest.raises(ConfigError, match="--restart") as info:
        retrain(spec, data, out)
    assert needle in str(info.value) and str(out / "checkpoint.pt") in str(info.value)


def test_an_architecture_file_with_a_partial_recipe_gets_the_full_recipe_for_the_rest(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("arch: {backbone: mobilenetv2, input_size: 128}\nrecipe: {lr: 0.001, aug_multiplier: 3}\n")
    spec = ArchSpec.load(p)
    assert spec.arch == ArchConfig("mobilenetv2", input_size=128)
    assert spec.recipe == full_recipe(3, lr=1e-3) and spec.recipe.epochs == FULL_EPOCHS
    plain = tmp_path / "plain.yaml"
    plain.write_text(ArchConfig().to_yaml())
    assert ArchSpec.load(plain).recipe == full_recipe()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("arch: {head_width: 9}\n", "arch.head_width: 9 is out of range (allowed: 0.125 to 4.0)"),  # ArchConfig
        ("arch: {}\nrecipe: {lr: 3}\n", "recipe.lr: 3 is out of range (allowed: 1e-07 to 1.0)"),  # TrainConfig
        ("arch: {}\nrecipe: {lr_min: 0.5}\n", "recipe.lr_min: 0.5 is above lr"),
        ("arch: {}\nrecipe: {epoch: 3}\n", "recipe.epoch: unknown key 'epoch' (allowed: amp, aug_multiplier"),
        ("arch: {}\nrecipe: {loss: l1}\n", "recipe.loss: 'l1' is not allowed (allowed: mse, integral, dsnt)"),
    ],
)
def test_bad_recipe_or_arch_values_name_file_and_key(tmp_path, text, needle):
    p = tmp_path / "a.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        ArchSpec.load(p)
    assert str(info.value).startswith(f"{p}: {needle}")


def test_the_onnx_check_decides_pass_or_fail():
    path = Path("m.onnx")
    ok = OnnxCheck(path, 3, max_abs_heatmap_diff=5e-5, max_keypoint_diff_px=1e-3)
    assert ok.raise_if_failed() is ok
    for bad in (replace(ok, max_abs_heatmap_diff=1e-3), replace(ok, max_keypoint_diff_px=0.5)):
        with pytest.raises(ExportError, match="m.onnx: onnxruntime output differs from torch beyond tolerance"):
            bad.raise_if_failed()


def test_the_run_records_the_memory_format_it_trained_in(finished_run):
    from nas.training.checkpoint import load_checkpoint

    spec, out, result = finished_run
    assert spec.recipe.memory_format == "auto"
    assert result.metrics["recipe"]["memory_format"] == "channels_last"  # auto on the CPU
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck.recipe.memory_format == "channels_last" and ck.state.result.memory_format == "channels_last"
    assert ArchSpec.load(out / "arch.yaml").recipe.memory_format == "auto"  # the file as given


def test_a_retrain_resumed_in_another_memory_format_is_accepted(tmp_path, synth_cache):
    from nas.training.checkpoint import load_checkpoint

    spec = ArchSpec(ARCH, full_recipe(1, epochs=2, batch_size=16, device="cpu", memory_format="contiguous"))
    out = tmp_path / "run"

    class Stop(Exception):
        pass

    def stop(epoch: int) -> None:
        raise Stop

    with pytest.raises(Stop):
        retrain(spec, DATA, out, cache_dir=synth_cache, on_checkpoint=stop)
    assert load_checkpoint(out / "checkpoint.pt").epoch == 1
    fast = replace(spec, recipe=replace(spec.recipe, memory_format="channels_last"))
    result = retrain(fast, DATA, out, cache_dir=synth_cache)
    assert result.metrics["epochs"] == 2 and len(result.metrics["history"]) == 2
    assert result.metrics["recipe"]["memory_format"] == "channels_last"


def test_prediction_is_the_same_in_both_memory_formats(finished_run, tmp_path):
    import cv2
    import numpy as np

    from nas.data.synth import render_batch
    from nas.deploy.predict import predict_folder
    from nas.training.checkpoint import load_trained_model
    from nas.training.device import memory_format_of

    _, out, _ = finished_run
    images, _, _ = render_batch(3, 80, seed=5)
    for i, im in enumerate(images):
        cv2.imwrite(str(tmp_path / f"hand{i}.png"), cv2.cvtColor(np.ascontiguousarray(im.transpose(1, 2, 0)),
                                                                cv2.COLOR_RGB2BGR))
    preds = {}
    for fmt in ("contiguous", "channels_last", "auto"):
        model, ck = load_trained_model(out / "checkpoint.pt")
        result = predict_folder(model, ck.arch.input_size, ck.recipe.loss, tmp_path, batch_size=2, memory_format=fmt)
        assert memory_format_of(model) == ("channels_last" if fmt == "auto" else fmt)  # auto on the CPU
        preds[fmt] = np.stack([p.keypoints for p in result.predictions])
    assert np.abs(preds["channels_last"] - preds["contiguous"]).max() < 1e-3
    assert np.array_equal(preds["auto"], preds["channels_last"])
