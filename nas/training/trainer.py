"""The proxy/full trainer: Adam, one half-cosine learning rate over the whole run, batched
on-device augmentation, best-on-validation weights. It knows nothing of the search: callers get
per-epoch statistics through `on_epoch` (which may raise to stop, e.g. a pruner).

On CUDA each training step runs, by default, in bfloat16 autocast and as one captured CUDA graph
(`nas.training.graph_step`); on the CPU eagerly in float32 (`nas.training.device` says why).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError, TrainingDiverged
from nas.keypoints.augment import random_affine
from nas.keypoints.losses import heatmap_loss
from nas.model.network import HEATMAP_STRIDE
from nas.training.device import (
    amp_dtype,
    flush_denormals,
    grad_scaler,
    resolve_device,
    resolve_recipe,
    to_memory_format,
    uses_amp,
)
from nas.training.evaluation import evaluate, to_input
from nas.training.graph_step import CaptureFailed, EagerStep, GraphStep, place_steps
from nas.training.recipe import TrainConfig

__all__ = ["EpochStats", "TrainResult", "TrainState", "train"]

StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (images, keypoints, vis) -> loss


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
    note: str = ""  # why the run computed otherwise than its recipe asked (a capture that failed), else empty
    history: list[EpochStats] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def compute(self) -> str:
        """How the run computed, e.g. `cuda_graph+bfloat16+channels_last` or `float32+contiguous`."""
        return "+".join([*(["cuda_graph"] if self.cuda_graph else []), self.precision, self.memory_format])


@dataclass
class TrainState:
    """Everything needed to continue a run exactly after `epoch` finished epochs (a checkpoint)."""

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    generator: torch.Tensor  # the augmentation/shuffling generator's state
    result: TrainResult  # history so far and the best weights
    images_seen: int
    loop_seconds: float

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "epoch": self.epoch, "model": self.model, "optimizer": self.optimizer, "scheduler": self.scheduler,
            "scaler": self.scaler, "generator": self.generator, "images_seen": self.images_seen,
            "loop_seconds": self.loop_seconds,
            "result": {**{f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "history"},
                       "history": [dataclasses.asdict(h) for h in r.history]},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainState:
        r = dict(d["result"])
        r["history"] = [EpochStats(**h) for h in r["history"]]
        return cls(d["epoch"], d["model"], d["optimizer"], d["scheduler"], d["scaler"], d["generator"],
                   TrainResult(**r), d["images_seen"], d["loop_seconds"])


def _cpu_copy(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}, step {step}")


@dataclass
class _Run:
    """One run's moving parts between epochs: the step plan, what a `TrainState` saves, the result."""

    model: nn.Module
    config: TrainConfig  # resolved for the device (`resolve_recipe`)
    device: torch.device
    memory_format: str  # channels_last | contiguous, of the model and every batch
    batch: int
    steps_per_pass: int  # batches in one pass over the training set
    steps_per_epoch: int  # aug_multiplier passes
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    gen: torch.Generator  # drives shuffling and augmentation, so a resumed run draws the same batches
    result: TrainResult
    epoch: int = 0  # finished epochs
    images_seen: int = 0
    loop_seconds: float = 0.0
    step: StepFn | None = None  # one optimisation step on a batch, eager or captured (`_make_step`)

    @property
    def amp(self) -> bool:
        return uses_amp(self.config, self.device)

    def state(self) -> TrainState:
        return TrainState(
            self.epoch, _cpu_copy(self.model.state_dict()), self.opt.state_dict(), self.sched.state_dict(),
            self.scaler.state_dict(), self.gen.get_state(), self.result, self.images_seen, self.loop_seconds,
        )


def _set_up(model: nn.Module, config: TrainConfig, device: torch.device, n: int, px_scale: float) -> _Run:
    """Adam with one half-cosine over all steps of the run (`capturable` when the step is captured); a
    seeded generator on the device; the model on the device in the run's memory format (before Adam
    creates its state, which follows it). `config` is resolved for `device` (`resolve_recipe`)."""
    fmt = config.memory_format
    model = to_memory_format(model.to(device), fmt)
    batch = min(config.batch_size, n)
    steps_per_pass = max(1, n // batch)  # drop the ragged last batch (BatchNorm needs > 1 sample)
    steps_per_epoch = config.aug_multiplier * steps_per_pass
    # foreach: the arithmetic of the per-parameter loop PyTorch runs by default on the CPU (bitwise
    # equal results) in a few batched calls per step instead of ~10 small ops per parameter
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True, capturable=config.cuda_graph == "on")
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=config.lr_min)
    scaler = grad_scaler(device, uses_amp(config, device))  # working only for float16 mixed precision
    gen = torch.Generator(device=device).manual_seed(config.seed)
    result = TrainResult(math.inf, 0.0, 0.0, math.nan, 0, 0.0, 0.0, px_scale, fmt)
    return _Run(model, config, device, fmt, batch, steps_per_pass, steps_per_epoch, opt, sched, scaler, gen, result)


def _make_step(run: _Run) -> StepFn:
    """The run's step: captured as a CUDA graph when its recipe says so (resolved: CUDA, no float16
    gradient scaler), else eager; the result records how it computes."""
    loss_fn = functools.partial(_loss, run)
    captured = run.config.cuda_graph == "on"
    run.result.cuda_graph = captured
    run.result.precision = str(amp_dtype(run.device) if run.amp else torch.float32).removeprefix("torch.")
    if captured:
        return GraphStep(loss_fn, run.opt, run.sched)
    return EagerStep(loss_fn, run.opt, run.sched, run.scaler)


def _fall_back(run: _Run, exc: CaptureFailed) -> StepFn:
    """The eager step, after the captured one could not be recorded: a warning, kept in
    `TrainResult.note` (a search's trial records it), and the run goes on with the same batches."""
    note = f"the training step could not be captured as a CUDA graph ({exc}): it ran eagerly"
    warnings.warn(note, RuntimeWarning, stacklevel=3)
    place_steps(run.opt, capturable=False)
    run.result.cuda_graph, run.result.note = False, note
    run.step = EagerStep(functools.partial(_loss, run), run.opt, run.sched, run.scaler)
    return run.step


def _step(run: _Run, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """One optimisation step on `batch`; its loss, detached (a captured step's is overwritten by the next)."""
    try:
        return run.step(*batch)
    except CaptureFailed as exc:
        return _fall_back(run, exc)(*batch)


def _restore(run: _Run, state: TrainState) -> None:
    """Continue after `state.epoch` exactly as if the run had not stopped."""
    if state.epoch > run.config.epochs:
        raise ConfigError(f"cannot resume after epoch {state.epoch}: the recipe has only {run.config.epochs}")
    run.model.load_state_dict(state.model)  # copied into the model's own layout
    run.opt.load_state_dict(state.optimizer)
    _follow_param_layout(run.opt)
    place_steps(run.opt, capturable=run.config.cuda_graph == "on")  # the state may come from the other kind of run
    run.sched.load_state_dict(state.scheduler)
    if state.scaler:  # empty when saved without float16 mixed precision: a new scaler then starts afresh
        run.scaler.load_state_dict(state.scaler)
    try:
        run.gen.set_state(state.generator.to("cpu"))
    except RuntimeError:
        raise ConfigError(f"cannot resume on {run.device.type}: the run was checkpointed on another device type"
                          ) from None
    run.result, run.images_seen, run.loop_seconds = state.result, state.images_seen, state.loop_seconds
    run.result.memory_format = run.memory_format  # a resume may change the layout (a runtime field)
    run.result.note = ""
    run.epoch = state.epoch


def _follow_param_layout(opt: torch.optim.Optimizer) -> None:
    """Optimizer state loaded from a run in another layout takes its parameter's layout (same values):
    Adam's update then runs on matching strides. Within one layout this changes nothing."""
    for p, state in opt.state.items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _batches(run: _Run, data: KeypointDataset) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of (images, keypoints, visibility): `aug_multiplier` shuffled passes over `data`,
    each image freshly rotated and flipped on every pass."""
    cfg = run.config
    for step in range(run.steps_per_epoch):
        if step % run.steps_per_pass == 0:
            perm = torch.randperm(len(data), generator=run.gen, device=run.device)
        idx = perm[(step % run.steps_per_pass) * run.batch :][: run.batch]
        images, kp, vis = random_affine(to_input(data.images[idx]), data.keypoints[idx], data.visibility[idx],
                                        cfg.rotation, cfg.flip, run.gen)
        yield to_memory_format(images, run.memory_format), kp, vis


def _loss(run: _Run, images: torch.Tensor, keypoints: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """The batch loss, the forward pass in mixed precision when the run uses it. No autocast weight
    cache: a captured step must not keep casts across replays (each weight is cast once either way)."""
    with torch.autocast(run.device.type, dtype=amp_dtype(run.device), enabled=run.amp, cache_enabled=False):
        out = run.model(images)
    return heatmap_loss(run.config.loss, out.float(), keypoints, (vis > 0).float(), HEATMAP_STRIDE, run.config.sigma)


def _train_epoch(run: _Run, data: KeypointDataset, on_step: Callable[[int, int], None] | None) -> float:
    """One epoch of optimisation; returns the mean training loss."""
    epoch = run.epoch + 1
    run.model.train()
    loss_sum = torch.zeros((), device=run.device)
    for step, batch in enumerate(_batches(run, data)):
        loss = _step(run, batch)
        if run.device.type == "cpu":
            _check_finite(loss, epoch, step)  # free on CPU; on CUDA checked per epoch (no sync)
        loss_sum += loss
        if on_step is not None:
            on_step(step + 1, run.steps_per_epoch)
    mean_loss = loss_sum / run.steps_per_epoch
    _check_finite(mean_loss, epoch, run.steps_per_epoch)
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    return mean_loss.item()


def _record_epoch(run: _Run, val: KeypointDataset, train_loss: float, loop: float, t0: float) -> EpochStats:
    """Validate, append the epoch's statistics and keep the weights if they are the best so far."""
    run.epoch += 1
    run.loop_seconds += loop
    run.images_seen += run.steps_per_epoch * run.batch
    r = run.result
    m = evaluate(run.model, val, run.config.loss, run.config.eval_batch_size, r.px_scale)
    stats = EpochStats(run.epoch, train_loss, m.px_error, m.pck, m.auc, run.opt.param_groups[0]["lr"],
                       run.steps_per_epoch * run.batch / loop, time.perf_counter() - t0)
    r.history.append(stats)
    if m.px_error < r.px_error:
        r.px_error, r.pck, r.auc, r.loss, r.best_epoch = m.px_error, m.pck, m.auc, train_loss, run.epoch
        r.state_dict = _cpu_copy(run.model.state_dict())
    r.images_per_s = run.images_seen / run.loop_seconds
    r.train_seconds += stats.seconds
    return stats


def _epoch(run: _Run, train_d: KeypointDataset, val_d: KeypointDataset,
           on_step: Callable[[int, int], None] | None) -> EpochStats:
    t0 = time.perf_counter()
    train_loss = _train_epoch(run, train_d, on_step)
    return _record_epoch(run, val_d, train_loss, time.perf_counter() - t0, t0)


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
    run = _set_up(model, resolve_recipe(config), device, len(train_d), (target_size or train_d.size) / train_d.size)
    if resume is not None:
        _restore(run, resume)
    run.step = _make_step(run)
    with flush_denormals(device):
        while run.epoch < config.epochs:
            stats = _epoch(run, train_d, val_d, on_step)
            if on_state is not None:
                on_state(run.state())
            if on_epoch is not None:
                on_epoch(stats)
    model.load_state_dict(run.result.state_dict)
    return run.result
