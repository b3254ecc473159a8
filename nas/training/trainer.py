"""The proxy/full trainer: the shared loop (`nas.training.loop`: Adam, one half-cosine learning rate
over the whole run, batched on-device augmentation) with validation after every epoch and the
best-on-validation weights kept. It knows nothing of the search: callers get
per-epoch statistics through `on_epoch` (which may raise to stop, e.g. a pruner).

On CUDA each training step runs, by default, in bfloat16 autocast and as one captured CUDA graph
(`nas.training.graph_step`), and with `eval_graph` on each validation batch replays one captured graph
too (`nas.training.graph_eval`); on the CPU all runs eagerly in float32 (`nas.training.device` says why).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError
from nas.keypoints.losses import heatmap_loss
from nas.model.network import HEATMAP_STRIDE
from nas.training.device import amp_dtype, flush_denormals, resolve_device, resolve_recipe, uses_amp
from nas.training.evaluation import evaluate, graph_predict
from nas.training.graph_eval import attached
from nas.training.loop import Loop, RunState, cpu_copy, make_step, restore, run_steps, set_up
from nas.training.recipe import TrainConfig

__all__ = ["EpochStats", "TrainResult", "TrainState", "train"]

@dataclass(frozen=True)
class EpochStats:
    epoch: int  # 1-based
    train_loss: float
    px_error: float  # validation EPE in target-input pixels
    pck: float
    auc: float
    lr: float
    images_per_s: float  # training images per second of training-loop time
    seconds: float  # wall time of the epoch, validation included


@dataclass
class TrainResult:
    px_error: float  # best validation EPE, target-input pixels (an estimate when trained smaller)
    pck: float
    auc: float
    loss: float  # training loss of the best epoch
    best_epoch: int
    images_per_s: float
    train_seconds: float
    px_scale: float  # target-input pixels per training pixel
    memory_format: str = "contiguous"  # the layout the run trained in (runs saved before the choice existed: NCHW)
    precision: str = "float32"  # of the forward pass: float32 | bfloat16 | float16 (runs saved before: float32)
    cuda_graph: bool = False  # whether the training step ran as one captured CUDA graph (after eager warm-up steps)
    eval_graph: bool = False  # whether validation replayed a captured CUDA graph (after eager warm-up batches)
    note: str = ""  # why the run computed otherwise than its recipe asked (a capture that failed), else empty
    history: list[EpochStats] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def compute(self) -> str:
        """How the run computed, e.g. `cuda_graph+bfloat16+channels_last` or `float32+contiguous`."""
        graphs = [name for name in ("cuda_graph", "eval_graph") if getattr(self, name)]
        return "+".join([*graphs, self.precision, self.memory_format])


@dataclass
class TrainState(RunState):
    """A run's checkpoint: the loop's state and the result so far (history and best weights)."""

    result: TrainResult

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {**self.fields(),
                "result": {**{f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "history"},
                           "history": [dataclasses.asdict(h) for h in r.history]}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainState:
        r = dict(d["result"])
        r["history"] = [EpochStats(**h) for h in r["history"]]
        seconds = d["seconds"] if "seconds" in d else d["loop_seconds"]  # the name before the shared loop
        return cls(d["epoch"], d.get("steps"), d["model"], d["optimizer"], d["scheduler"], d["scaler"],
                   d["generator"], seconds, TrainResult(**r))


def _loss(model: nn.Module, config: TrainConfig, device: torch.device, amp: bool, images: torch.Tensor,
          keypoints: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """The batch loss, the forward pass in mixed precision when the run uses it. No autocast weight
    cache: a captured step must not keep casts across replays (each weight is cast once either way)."""
    with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp, cache_enabled=False):
        out = model(images)
    return heatmap_loss(config.loss, out.float(), keypoints, (vis > 0).float(), HEATMAP_STRIDE, config.sigma)


def _set_up(model: nn.Module, config: TrainConfig, device: torch.device, n: int, px_scale: float,
            resume: TrainState | None) -> tuple[Loop, TrainResult]:
    """The shared loop with this trainer's step (captured when the recipe, resolved for `device`,
    says so) and a fresh result, or the one `resume` carries."""
    captured = config.cuda_graph == "on"
    loop = set_up(model, config, device, n, config.memory_format, capturable=captured)
    result = TrainResult(math.inf, 0.0, 0.0, math.nan, 0, 0.0, 0.0, px_scale, config.memory_format)
    if resume is not None:
        if resume.epoch > config.epochs:
            raise ConfigError(f"cannot resume after epoch {resume.epoch}: the recipe has only {config.epochs}")
        restore(loop, resume)
        result = resume.result
        result.memory_format, result.note = config.memory_format, ""  # runtime fields: a resume may change them
    amp = uses_amp(config, device)
    # the step holds what the loss needs, never the loop that holds the step: without that cycle a run's
    # optimizer state and captured graph (its GPU memory pool) go the moment the run ends, not at the
    # next garbage collection, which a worker training trial after trial may reach much later
    loop.step = make_step(loop, functools.partial(_loss, loop.model, config, device, amp), captured)
    result.cuda_graph, result.eval_graph = captured, config.eval_graph == "on"
    if result.eval_graph:
        loop.eval_graph = graph_predict(loop.model, config.loss, config.eval_batch_size)
    result.precision = str(amp_dtype(device) if amp else torch.float32).removeprefix("torch.")
    return loop, result


def _record_epoch(loop: Loop, result: TrainResult, val: KeypointDataset, train_loss: float,
                  loop_seconds: float, t0: float) -> EpochStats:
    """Validate, append the epoch's statistics and keep the weights if they are the best so far."""
    m = evaluate(loop.model, val, loop.config.loss, loop.config.eval_batch_size, result.px_scale)
    stats = EpochStats(loop.epoch, train_loss, m.px_error, m.pck, m.auc, loop.opt.param_groups[0]["lr"],
                       loop.steps_per_epoch * loop.batch / loop_seconds, time.perf_counter() - t0)
    result.history.append(stats)
    if m.px_error < result.px_error:
        result.px_error, result.pck, result.auc, result.loss = m.px_error, m.pck, m.auc, train_loss
        result.best_epoch, result.state_dict = loop.epoch, cpu_copy(loop.model.state_dict())
    result.images_per_s = loop.steps * loop.batch / loop.seconds
    result.train_seconds += stats.seconds
    _note_fallbacks(loop, result)
    return stats


def _note_fallbacks(loop: Loop, result: TrainResult) -> None:
    """A step or a validation that could not be captured ran eagerly (`take_step`, `GraphPredict`): the
    result says which and why."""
    evals = loop.eval_graph.note if loop.eval_graph is not None else ""
    result.cuda_graph = result.cuda_graph and not loop.note
    result.eval_graph = result.eval_graph and not evals
    result.note = "; ".join(n for n in (loop.note, evals) if n)


def _epoch(loop: Loop, result: TrainResult, train_d: KeypointDataset, val_d: KeypointDataset,
           on_step: Callable[[int, int], None] | None) -> EpochStats:
    t0, before = time.perf_counter(), loop.seconds
    train_loss = run_steps(loop, train_d, loop.steps_per_epoch, on_step)
    return _record_epoch(loop, result, val_d, train_loss, loop.seconds - before, t0)


def train(
    model: nn.Module,
    train_data: KeypointDataset,
    val_data: KeypointDataset,
    config: TrainConfig,
    target_size: int | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    resume: TrainState | None = None,
    on_state: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train `model` in place and load its best-validation weights before returning. The model is
    left on the run's device and in its memory format (`TrainResult.memory_format`).

    Args:
        target_size: input side the errors are reported at (default: the data's own size); when it
            differs from the data's, errors are scaled and are estimates.
        on_epoch: called after each epoch's validation; may raise to stop training.
        on_step: called as on_step(steps_done_this_epoch, steps_per_epoch).
        resume: a state from `on_state` of an earlier run with the same recipe and data: training
            continues after its last finished epoch exactly as if it had not stopped.
        on_state: called after each epoch (before `on_epoch`) with the full state, for checkpoints.
    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    device = resolve_device(config.device)
    train_d, val_d = train_data.to(device), val_data.to(device)
    config = resolve_recipe(config)
    loop, result = _set_up(model, config, device, len(train_d), (target_size or train_d.size) / train_d.size, resume)
    with flush_denormals(device), attached(loop.model, loop.eval_graph):
        while loop.epoch < config.epochs:
            stats = _epoch(loop, result, train_d, val_d, on_step)
            if on_state is not None:
                on_state(TrainState(**vars(loop.state()), result=result))
            if on_epoch is not None:
                on_epoch(stats)
    model.load_state_dict(result.state_dict)
    return result
