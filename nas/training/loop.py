"""The training loop both trainers share (the proxy/full `trainer` and the `supernet` trainer): Adam
with one half-cosine over every step of the run, a seeded generator that drives shuffling and
augmentation, shuffled batches of freshly augmented images, one step object per run, the
divergence check, and the state that continues a run exactly after a finished epoch.

What differs between the two is only the step (`StepFn`: one optimisation step on a batch, returning
its loss) and what each does at an epoch's end. The trainer's step may be captured as one CUDA graph
(`make_step`; a capture that fails falls back to the eager step with a warning, `take_step`).
"""
from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError, TrainingDiverged
from nas.keypoints.augment import random_affine
from nas.training.device import grad_scaler, to_memory_format, uses_amp
from nas.training.evaluation import to_input
from nas.training.graph_eval import GraphPredict
from nas.training.graph_step import CaptureFailed, EagerStep, GraphStep, LossFn, place_steps
from nas.training.recipe import TrainConfig

__all__ = ["Batch", "Loop", "RunState", "StepFn", "batches", "batches_per_pass", "check_finite", "cpu_copy",
           "make_step", "restore", "run_steps", "set_up", "take_step"]

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images, keypoints, visibility
StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # one optimisation step -> its loss


@dataclass
class RunState:
    """What every run needs to continue exactly after `epoch` finished epochs (`steps` optimizer
    steps); the trainers' checkpoints add what they keep on top (`TrainState`, `SupernetState`)."""

    epoch: int
    steps: int | None  # None in checkpoints written before it was kept: `epoch` full epochs then
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]  # empty unless float16 mixed precision ran
    generator: torch.Tensor  # the shuffling/augmentation generator's state
    seconds: float  # training-loop seconds so far (validation excluded)

    def fields(self) -> dict[str, Any]:
        """The shared fields by name, for a subclass's `to_dict`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RunState)}


@dataclass
class Loop:
    """One run's moving parts: the model and its optimizer, the batch plan, the generator, the step
    (and the captured validation), and how far the run has come."""

    model: nn.Module
    config: TrainConfig
    device: torch.device
    memory_format: str  # channels_last | contiguous, of the model and every batch
    batch: int
    steps_per_pass: int  # batches in one pass over the training set (the ragged last one dropped)
    steps_per_epoch: int  # aug_multiplier passes
    total_steps: int  # the learning rate anneals over exactly these
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    gen: torch.Generator
    step: StepFn | None = None
    eval_graph: GraphPredict | None = None  # the captured validation, when the recipe asks for it
    epoch: int = 0  # finished epochs
    steps: int = 0  # finished optimizer steps
    seconds: float = 0.0  # training-loop seconds
    note: str = ""  # why the run computed otherwise than its recipe asked (a failed capture), else empty

    def state(self) -> RunState:
        """A snapshot (the weights on the CPU, the optimizer's state copied where it lives): later
        steps do not change it."""
        return RunState(self.epoch, self.steps, cpu_copy(self.model.state_dict()),
                        copy.deepcopy(self.opt.state_dict()), self.sched.state_dict(), self.scaler.state_dict(),
                        self.gen.get_state(), self.seconds)


def cpu_copy(state: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def batches_per_pass(config: TrainConfig, n: int) -> int:
    """Batches in one pass over `n` training images: the ragged last batch is dropped (BatchNorm needs
    more than one sample), at least 1."""
    return max(1, n // min(config.batch_size, n))


def set_up(model: nn.Module, config: TrainConfig, device: torch.device, n: int, memory_format: str,
           total_steps: int | None = None, capturable: bool = False) -> Loop:
    """The loop of a run on `n` training images: the model on `device` in `memory_format` (before Adam
    creates its state, which follows it), Adam (`capturable` for a captured step), one half-cosine
    over `total_steps` (default: `config.epochs` epochs), a generator seeded with `config.seed`."""
    model = to_memory_format(model.to(device), memory_format)
    batch = min(config.batch_size, n)
    steps_per_pass = batches_per_pass(config, n)
    steps_per_epoch = config.aug_multiplier * steps_per_pass
    total = total_steps if total_steps is not None else steps_per_epoch * config.epochs
    # foreach: the arithmetic of the per-parameter loop PyTorch runs by default on the CPU (bitwise
    # equal results) in a few batched calls per step instead of ~10 small ops per parameter
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, foreach=True, capturable=capturable)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=config.lr_min)
    scaler = grad_scaler(device, uses_amp(config, device))  # working only for float16 mixed precision
    gen = torch.Generator(device=device).manual_seed(config.seed)
    return Loop(model, config, device, memory_format, batch, steps_per_pass, steps_per_epoch, total, opt, sched,
                scaler, gen)


def restore(loop: Loop, state: RunState) -> None:
    """Continue after `state` exactly as if the run had not stopped (a state from either kind of step,
    and from the other memory format, loads)."""
    loop.model.load_state_dict(state.model)  # copied into the model's own layout
    capturable = loop.opt.param_groups[0]["capturable"]
    loop.opt.load_state_dict(state.optimizer)
    _follow_param_layout(loop.opt)
    place_steps(loop.opt, capturable)
    loop.sched.load_state_dict(state.scheduler)
    if state.scaler:  # empty when saved without float16 mixed precision: a new scaler then starts afresh
        loop.scaler.load_state_dict(state.scaler)
    try:
        loop.gen.set_state(state.generator.to("cpu"))
    except RuntimeError:
        raise ConfigError(f"cannot resume on {loop.device.type}: the run was checkpointed on another device type"
                          ) from None
    loop.epoch, loop.seconds = state.epoch, state.seconds
    loop.steps = state.steps if state.steps is not None else state.epoch * loop.steps_per_epoch


def _follow_param_layout(opt: torch.optim.Optimizer) -> None:
    """Optimizer state loaded from a run in another layout takes its parameter's layout (same values):
    Adam's update then runs on matching strides. Within one layout this changes nothing."""
    for p, state in opt.state.items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def make_step(loop: Loop, loss_fn: LossFn, captured: bool) -> StepFn:
    """The step of a run whose loss is `loss_fn(batch)`: one captured CUDA graph when `captured` (Adam
    set up `capturable`), else eager through the run's gradient scaler."""
    if captured:
        return GraphStep(loss_fn, loop.opt, loop.sched)
    return EagerStep(loss_fn, loop.opt, loop.sched, loop.scaler)


def take_step(loop: Loop, batch: Batch) -> torch.Tensor:
    """One optimisation step on `batch`; its loss, detached (a captured step's is overwritten by the
    next). A step that cannot be captured is replaced by the eager one, with a warning kept in `note`."""
    try:
        return loop.step(*batch)
    except CaptureFailed as exc:
        loop.note = f"the training step could not be captured as a CUDA graph ({exc}): it ran eagerly"
        warnings.warn(loop.note, RuntimeWarning, stacklevel=3)
        place_steps(loop.opt, capturable=False)
        loop.step = make_step(loop, loop.step.loss_fn, captured=False)
        return loop.step(*batch)


def batches(loop: Loop, data: KeypointDataset, steps: int) -> Iterator[Batch]:
    """`steps` batches from a fresh shuffle (a new one after every pass over `data`), each image
    freshly rotated and flipped, in the run's memory format."""
    cfg = loop.config
    for step in range(steps):
        if step % loop.steps_per_pass == 0:
            perm = torch.randperm(len(data), generator=loop.gen, device=loop.device)
        idx = perm[(step % loop.steps_per_pass) * loop.batch :][: loop.batch]
        images, kp, vis = random_affine(to_input(data.images[idx]), data.keypoints[idx], data.visibility[idx],
                                        cfg.rotation, cfg.flip, loop.gen)
        yield to_memory_format(images, loop.memory_format), kp, vis


def check_finite(loss: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}, step {step}")


def run_steps(loop: Loop, data: KeypointDataset, steps: int,
              on_step: Callable[[int, int], None] | None = None) -> float:
    """`steps` optimisation steps (an epoch's, or fewer where a step budget ends) in training mode;
    the mean loss. Counts them, and their seconds, into the loop (and one epoch).

    Raises TrainingDiverged when the loss is NaN or infinite: checked every step on the CPU (free),
    once at the end on CUDA (no host sync per step)."""
    t0, epoch = time.perf_counter(), loop.epoch + 1
    loop.model.train()
    loss_sum = torch.zeros((), device=loop.device)
    for step, batch in enumerate(batches(loop, data, steps)):
        loss = take_step(loop, batch)
        if loop.device.type == "cpu":
            check_finite(loss, epoch, step)
        loss_sum += loss
        if on_step is not None:
            on_step(step + 1, steps)
    mean_loss = loss_sum / steps
    check_finite(mean_loss, epoch, steps)
    if loop.device.type == "cuda":
        torch.cuda.synchronize(loop.device)
    loop.epoch, loop.steps, loop.seconds = epoch, loop.steps + steps, loop.seconds + time.perf_counter() - t0
    return mean_loss.item()
