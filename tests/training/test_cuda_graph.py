"""How a run computes: the amp, cuda_graph and eval_graph switches, their resolution per device, the
CPU path unchanged by them, and (on CUDA) the captured training step and evaluation against the eager
ones."""
from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from nas.data import KeypointDataset
from nas.errors import ConfigError
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nas.training.device import resolve_recipe, uses_amp
from nas.training.evaluation import graph_predict, keypoint_distances
from nas.training.graph_eval import attached, graph_for
from nas.training.loop import batches, take_step
from nas.training.recipe import RUNTIME_FIELDS, TrainConfig
from nas.training.trainer import TrainState, train
from nas.training.trainer import _set_up as _trainer_set_up

ARCH = ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64)


def needs_cuda(test):
    """Runs where CUDA is and says it skipped elsewhere; marked `cuda`, which bench/device_check.sh
    selects (`-m cuda`) on a lent GPU."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")(test))


def _data(n: int, seed: int) -> KeypointDataset:
    """Random 64 px images with keypoints well inside them: enough to exercise a training step."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=g)
    keypoints = 8 + 48 * torch.rand(n, 21, 2, generator=g)
    return KeypointDataset(images, keypoints, torch.full((n, 21), 2, dtype=torch.uint8))


def _peaky_model() -> nn.Module:
    """Heatmaps (stride 4) whose peaks follow the image closely (an untrained network's barely move):
    a prediction made from the wrong images cannot pass for the right one."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.AvgPool2d(4), nn.Conv2d(3, 21, 3, padding=1))
    model[1].weight.data.mul_(20.0)
    return model


@pytest.mark.parametrize("value, stored", [("auto", "auto"), ("on", "on"), ("off", "off"), (True, "on"),
                                           (False, "off")])
def test_the_switches_take_auto_on_off_and_booleans(value, stored):
    cfg = TrainConfig(amp=value, cuda_graph=value, eval_graph=value)
    assert (cfg.amp, cfg.cuda_graph, cfg.eval_graph) == (stored, stored, stored)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"amp": value}, "old.yaml").amp == stored  # YAML reads on/off as booleans


@pytest.mark.parametrize("field", ["amp", "cuda_graph", "eval_graph"])
def test_a_bad_switch_is_a_config_error_naming_the_field(field):
    with pytest.raises(ConfigError, match=f"{field}: 'fast' is not one of auto, on, off"):
        TrainConfig(**{field: "fast"})
    with pytest.raises(ConfigError, match=f"recipe.yaml: {field}: 2 is not a string"):
        TrainConfig.from_dict({field: 2}, "recipe.yaml")


def test_on_the_cpu_all_resolve_off_and_are_runtime_fields():
    for value in ("auto", "on", "off"):
        resolved = resolve_recipe(TrainConfig(device="cpu", amp=value, cuda_graph=value, eval_graph=value))
        assert (resolved.amp, resolved.cuda_graph, resolved.eval_graph) == ("off", "off", "off")
        assert resolved.memory_format == "channels_last"
        assert resolve_recipe(resolved) == resolved
        assert not uses_amp(resolved, torch.device("cpu"))
    assert {"amp", "cuda_graph", "eval_graph"} <= set(RUNTIME_FIELDS)
    assert TrainConfig().eval_graph == "off"  # until a GPU has measured what it saves


def test_the_cpu_run_is_the_same_with_defaults_explicit_off_and_an_old_recipe(tmp_path):
    """The switches do not touch the CPU path: the same numbers to the last bit whichever way the recipe
    says it, and a checkpoint written before the switches (amp: false, no cuda_graph, a result without
    the compute fields) loads and resumes."""
    data, val = _data(16, 0), _data(8, 1)
    base = dict(epochs=1, batch_size=8, device="cpu", rotation=0.0)
    old_style = {**TrainConfig(**base).to_dict(), "amp": False}
    del old_style["cuda_graph"], old_style["eval_graph"]
    recipes = [TrainConfig(**base, eval_graph="on"), TrainConfig(**base, amp=False, cuda_graph="off"),
               TrainConfig.from_dict(old_style)]
    states: list[TrainState] = []
    runs = [train(build_model(ARCH, seed=1), data, val, cfg, on_state=states.append) for cfg in recipes]
    curves = [[(h.px_error, h.train_loss, h.lr) for h in r.history] for r in runs]
    assert curves[0] == curves[1] == curves[2] and math.isfinite(runs[0].px_error)
    assert all(r.compute == "float32+channels_last" and not r.cuda_graph and not r.eval_graph for r in runs)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, Checkpoint(ARCH, recipes[2], states[-1]))
    payload = torch.load(path, weights_only=True)
    payload["recipe"]["amp"] = False
    del payload["recipe"]["cuda_graph"], payload["recipe"]["eval_graph"]
    for key in ("precision", "cuda_graph", "eval_graph", "note"):
        del payload["state"]["result"][key]
    torch.save(payload, path)
    ck = load_checkpoint(path)
    assert ck.recipe.amp == "off" and ck.recipe.eval_graph == "off" and ck.state.result.precision == "float32"
    assert not ck.state.result.cuda_graph and not ck.state.result.eval_graph
    again = train(build_model(ARCH, seed=1), data, val, TrainConfig(**base), resume=ck.state)  # finished
    assert [(h.px_error, h.train_loss) for h in again.history] == [(h.px_error, h.train_loss) for h in runs[0].history]


# --- CUDA ------------------------------------------------------------------------------------------
def _cuda_recipe(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 8, "aug_multiplier": 2, "device": "cuda", "seed": 3, **kw})


@needs_cuda
def test_on_cuda_auto_is_bf16_channels_last_and_captured():
    resolved = resolve_recipe(TrainConfig(device="cuda"))
    if not torch.cuda.is_bf16_supported():
        assert (resolved.amp, resolved.cuda_graph) == ("on", "off")  # the float16 scaler is not captured
        return
    assert (resolved.amp, resolved.cuda_graph, resolved.memory_format) == ("on", "on", "channels_last")
    plain = resolve_recipe(TrainConfig(device="cuda", amp="off"))
    assert (plain.amp, plain.cuda_graph, plain.memory_format) == ("off", "on", "contiguous")


@needs_cuda
@pytest.mark.parametrize("amp", ["on", "off"])
def test_a_captured_run_trains_like_the_eager_one(amp):
    data, val = _data(48, 0), _data(16, 1)
    steps: dict[str, list[int]] = {"on": [], "off": []}
    runs = {g: train(build_model(ARCH, seed=1), data, val, _cuda_recipe(amp=amp, cuda_graph=g),
                     on_step=lambda done, total, g=g: steps[g].append(done)) for g in ("on", "off")}
    graph, eager = runs["on"], runs["off"]
    assert graph.cuda_graph and not eager.cuda_graph and graph.note == ""
    assert graph.memory_format == eager.memory_format and graph.precision == eager.precision
    assert steps["on"] == steps["off"] and len(steps["on"]) == 2 * 2 * (48 // 8)
    assert [h.epoch for h in graph.history] == [1, 2]
    assert all(math.isfinite(h.train_loss) for h in graph.history)
    for g, e in zip(graph.history, eager.history):
        assert g.lr == pytest.approx(e.lr, rel=1e-6)  # the same schedule, stepped on the host
        assert g.train_loss == pytest.approx(e.train_loss, rel=0.1)
    assert abs(graph.px_error - eager.px_error) < max(1.5, 0.1 * eager.px_error)


@needs_cuda
def test_a_captured_step_and_its_batches_never_make_the_host_wait_for_the_gpu():
    """After the warm-up and the capture (which synchronise once), every step's batch assembly,
    augmentation and replay only queue work: any synchronising call raises in sync-debug mode."""
    data = _data(96, 0).to(torch.device("cuda"))
    recipe = resolve_recipe(_cuda_recipe())
    loop, _ = _trainer_set_up(build_model(ARCH, seed=1), recipe, torch.device("cuda"), len(data), 1.0, None)
    assert loop.steps_per_pass == 12
    steps = batches(loop, data, 12)  # one pass: its shuffle is drawn before the first step
    for batch in itertools.islice(steps, 5):
        take_step(loop, batch)  # 3 warm-up steps, the capture and its first replay
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in steps:
            take_step(loop, batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert loop.note == "" and math.isfinite(take_step(loop, next(batches(loop, data, 1))).item())


@needs_cuda
@pytest.mark.parametrize("network", [True, False])
def test_captured_evaluation_predicts_what_the_eager_one_does(network):
    """Full batches and a ragged end (300 = 128 + 128 + 44), then a set smaller than one batch (a
    search's checks), through one captured graph: the eager pass's distances, within float rounding;
    for a search's network (its ops capture) and a model whose predictions follow the images closely."""
    model = (build_model(ARCH, seed=1) if network else _peaky_model()).cuda()
    data = _data(300, 2).to(torch.device("cuda"))
    small = data.subset(slice(0, 40))
    eager = [keypoint_distances(model, d, "dsnt", 128) for d in (data, data, small)]
    graph = graph_predict(model, "dsnt", 128)
    with attached(model, graph):
        warm = keypoint_distances(model, data, "dsnt", 128)  # three eager warm-up batches
        assert graph.graph is None
        captured = [warm, *(keypoint_distances(model, d, "dsnt", 128) for d in (data, small))]
        assert graph.graph is not None and graph.note == ""
        assert graph_for(model, "dsnt", 64, data.images) is None  # another batch size runs eagerly
    assert graph_for(model, "dsnt", 128, data.images) is None  # dropped on the way out
    for (d, n), (ed, en) in zip(captured, eager, strict=True):
        torch.testing.assert_close(d, ed, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(n, en)


@needs_cuda
def test_a_run_with_captured_evaluation_validates_like_the_eager_one():
    data, val = _data(48, 0), _data(16, 1)
    runs = {g: train(build_model(ARCH, seed=1), data, val, _cuda_recipe(eval_graph=g, eval_batch_size=4))
            for g in ("on", "off")}
    graph, eager = runs["on"], runs["off"]
    assert graph.eval_graph and not eager.eval_graph and graph.note == ""
    assert graph.compute.startswith("cuda_graph+eval_graph+") and "eval_graph" not in eager.compute
    assert [h.epoch for h in graph.history] == [1, 2] and math.isfinite(graph.px_error)
    assert abs(graph.px_error - eager.px_error) < max(1.5, 0.1 * eager.px_error)


@needs_cuda
@pytest.mark.parametrize("first, then", [("on", "off"), ("off", "on")])
def test_a_run_resumes_across_the_switch(tmp_path, first, then):
    """Checkpointed after epoch 1 (through the file, as a retrain resumes) with the step captured or
    not, resumed the other way: it finishes, its Adam steps where the new kind of step reads them."""
    data, val = _data(48, 0), _data(16, 1)
    path = tmp_path / "ck.pt"

    class Stop(Exception):
        pass

    def save_then_stop(state):
        save_checkpoint(path, Checkpoint(ARCH, _cuda_recipe(cuda_graph=first), state))
        raise Stop

    with pytest.raises(Stop):
        train(build_model(ARCH, seed=1), data, val, _cuda_recipe(cuda_graph=first), on_state=save_then_stop)
    states: list[TrainState] = []
    resumed = train(build_model(ARCH, seed=1), data, val, _cuda_recipe(cuda_graph=then),
                    resume=load_checkpoint(path).state, on_state=states.append)
    assert [h.epoch for h in resumed.history] == [1, 2] and math.isfinite(resumed.history[1].train_loss)
    assert resumed.cuda_graph == (then == "on")
    assert states[-1].steps == 2 * 2 * (48 // 8)
    steps = [s["step"] for s in states[-1].optimizer["state"].values()]
    assert all(s.device.type == ("cuda" if then == "on" else "cpu") for s in steps)
    assert all(float(s) == 2 * 2 * (48 // 8) for s in steps)


_UNCAPTURABLE = """
import sys, torch, warnings
sys.path.insert(0, {root!r})
from tests.training.test_cuda_graph import ARCH, _cuda_recipe, _data
from nas.model.network import build_model
from nas.training.trainer import train

def model():  # a read-back in every forward pass: legal eagerly, not inside a capture
    m = build_model(ARCH, seed=1)
    m.register_forward_hook(lambda _m, _a, out: None if out.sum().item() else None)
    return m

data, val = _data(48, 0), _data(16, 1)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    r = train(model(), data, val, _cuda_recipe(cuda_graph="auto"))
assert not r.cuda_graph and "could not be captured" in r.note, r.note
assert any("could not be captured" in str(w.message) for w in seen)
assert [h.epoch for h in r.history] == [1, 2] and r.history[-1].train_loss == r.history[-1].train_loss
r = train(model(), data, val, _cuda_recipe(cuda_graph="on"))  # a search's trial must not die of it either
assert not r.cuda_graph and "could not be captured" in r.note, r.note
r = train(model(), data, val, _cuda_recipe(cuda_graph="off", eval_graph="on", eval_batch_size=4))  # nor of this
assert not r.eval_graph and "evaluation could not be captured" in r.note, r.note
assert [h.epoch for h in r.history] == [1, 2] and r.history[-1].px_error == r.history[-1].px_error
print("ok")
"""


@needs_cuda
def test_a_step_or_evaluation_that_cannot_be_captured_falls_back_to_eager():
    """In its own process: a failed capture must leave the CUDA context usable, and if it did not, no
    other test should pay for it."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    code = textwrap.dedent(_UNCAPTURABLE).format(root=root)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
