"""Supernet training: one parent network trained so that every child sliced out of it works.

The sandwich rule (BigNAS): each step trains the largest child (the parent itself), the smallest and
N random ones on the same augmented batch, their losses summed, so one backward pass updates the
parent's shared weights for all of them. Each child runs through `torch.func.functional_call` on
views of the parent's tensors (`nas.model.slicing`). Optionally (in-place distillation) every child
but the largest also learns the largest one's heatmaps, detached.

Batch statistics differ between widths, so the parent's BatchNorm running statistics fit no child:
`recalibrate_bn` re-estimates them for a standalone child on a few hundred training images before it
is evaluated. Space-free: which children to draw is the caller's (`nas.search`'s) business.
"""
from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nas.data.dataset import KeypointDataset
from nas.keypoints.augment import random_affine
from nas.keypoints.losses import heatmap_loss
from nas.model.arch import ArchConfig
from nas.model.network import HEATMAP_STRIDE
from nas.model.slicing import child_template, child_tensors, named_tensors
from nas.training.device import flush_denormals, memory_format_of, to_memory_format
from nas.training.evaluation import to_input
from nas.training.recipe import TrainConfig

__all__ = ["SupernetState", "SupernetResult", "train_supernet", "epoch_steps", "recalibrate_bn", "ChildSampler"]

ChildSampler = Callable[[random.Random], Sequence[ArchConfig]]  # the children of one step, largest first


@dataclass
class SupernetState:
    """Everything needed to continue after `step` finished optimizer steps."""

    step: int
    parent: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: tuple  # random.Random's state (which children)
    generator: torch.Tensor  # the augmentation generator's state
    seconds: float = 0.0


@dataclass
class SupernetResult:
    epochs: float  # steps / steps per epoch: a budget may end inside an epoch
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean summed loss per epoch (the last may be partial)


def _loss(parent: nn.Module, arch: ArchConfig, tensors: dict[str, torch.Tensor], images: torch.Tensor,
          kp: torch.Tensor, weight: torch.Tensor, config: TrainConfig,
          teacher: torch.Tensor | None, distill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, heatmaps) of one child on the batch; the largest child is the parent itself."""
    if arch == parent.arch:
        out = parent(images)
    else:
        template = child_template(arch).train(parent.training)  # cached: its mode may be another caller's
        out = functional_call(template, child_tensors(tensors, template), (images,))
    loss = heatmap_loss(config.loss, out.float(), kp, weight, HEATMAP_STRIDE, config.sigma)
    if teacher is not None and distill > 0:
        loss = loss + distill * _distill(out.float(), teacher)
    return loss, out


def _distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL divergence between the per-keypoint spatial softmaxes of teacher and student heatmaps."""
    s, t = student.flatten(2).log_softmax(-1), teacher.flatten(2).softmax(-1)
    return F.kl_div(s, t, reduction="batchmean") / student.shape[1]


@dataclass
class _Loop:
    parent: nn.Module
    config: TrainConfig
    opt: torch.optim.Optimizer
    sched: Any
    gen: torch.Generator
    rng: random.Random
    steps_per_epoch: int
    total_steps: int
    batch: int
    memory_format: str


def _step(loop: _Loop, data: KeypointDataset, idx: torch.Tensor, children: Sequence[ArchConfig],
          distill: float) -> float:
    cfg = loop.config
    images, kp, vis = random_affine(to_input(data.images[idx]), data.keypoints[idx], data.visibility[idx],
                                    cfg.rotation, cfg.flip, loop.gen)
    images, weight = to_memory_format(images, loop.memory_format), (vis > 0).float()
    tensors, teacher, total = named_tensors(loop.parent), None, 0.0
    loop.opt.zero_grad(set_to_none=True)
    for arch in children:
        loss, out = _loss(loop.parent, arch, tensors, images, kp, weight, cfg, teacher, distill)
        loss.backward()  # per child: only one child's activations are held at a time
        teacher = out.detach().float() if teacher is None else teacher
        total += loss.item()
        if not math.isfinite(total):
            raise FloatingPointError(f"supernet loss became {total} on {arch.short()}")
    loop.opt.step()
    loop.sched.step()
    return total


def _epoch(loop: _Loop, data: KeypointDataset, sample: ChildSampler, distill: float, steps: int,
           on_step: Callable[[int, int], None] | None) -> float:
    """`steps` steps (an epoch's, or fewer where the budget ends) from a fresh shuffle."""
    loop.parent.train()
    losses, passes = [], max(1, len(data) // loop.batch)
    for step in range(steps):
        if step % passes == 0:
            perm = torch.randperm(len(data), generator=loop.gen, device=loop.gen.device)
        idx = perm[(step % passes) * loop.batch:][: loop.batch]
        losses.append(_step(loop, data, idx, sample(loop.rng), distill))
        if on_step is not None:
            on_step(step + 1, steps)
    return sum(losses) / len(losses)


def _set_up(parent: nn.Module, config: TrainConfig, device: torch.device, n: int, fmt: str,
            steps: int | None) -> _Loop:
    batch = min(config.batch_size, n)
    per_epoch = config.aug_multiplier * max(1, n // batch)
    total = steps if steps is not None else per_epoch * config.epochs
    opt = torch.optim.Adam(parent.parameters(), lr=config.lr, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=config.lr_min)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    return _Loop(parent, config, opt, sched, gen, random.Random(config.seed), per_epoch, total, batch, fmt)


def epoch_steps(config: TrainConfig, images: int, epochs: float) -> int:
    """Optimizer steps in `epochs` (fractional) epochs of `images` at the config's batch size, at least 1."""
    return max(1, round(epochs * config.aug_multiplier * max(1, images // min(config.batch_size, images))))


def _restore(loop: _Loop, state: SupernetState) -> None:
    loop.parent.load_state_dict(state.parent)
    loop.opt.load_state_dict(state.optimizer)
    loop.sched.load_state_dict(state.scheduler)
    loop.rng.setstate(state.rng)
    loop.gen.set_state(state.generator.to("cpu"))


def _state(loop: _Loop, step: int, seconds: float) -> SupernetState:
    cpu = {k: v.detach().to("cpu", copy=True) for k, v in loop.parent.state_dict().items()}
    # copies: the optimizer's own state_dict() holds its live tensors, which the next step changes
    return SupernetState(step, cpu, copy.deepcopy(loop.opt.state_dict()), loop.sched.state_dict(),
                         loop.rng.getstate(), loop.gen.get_state(), seconds)


def train_supernet(
    parent: nn.Module,
    data: KeypointDataset,
    config: TrainConfig,
    sample: ChildSampler,
    distill: float = 0.0,
    memory_format: str = "contiguous",
    resume: SupernetState | None = None,
    on_state: Callable[[SupernetState], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    steps: int | None = None,
) -> SupernetResult:
    """Train `parent` (a `KeypointNet` on the data's device, in `memory_format`) for `steps` optimizer
    steps of the sandwich rule (default: `config.epochs` epochs; `epoch_steps` converts fractional
    ones), the learning rate annealed over exactly those steps: `sample(rng)` gives each step's
    children, the largest (the parent's own arch) first. `on_state` gets a checkpointable state after
    every epoch and at the end; `resume` continues from one exactly."""
    device = next(parent.parameters()).device
    loop = _set_up(parent, config, device, len(data), memory_format, steps)
    done, seconds = 0, 0.0
    if resume is not None:
        _restore(loop, resume)
        done, seconds = resume.step, resume.seconds
    result = SupernetResult(done / loop.steps_per_epoch, done, seconds)
    with flush_denormals(device):
        while done < loop.total_steps:
            n, t0 = min(loop.steps_per_epoch, loop.total_steps - done), time.perf_counter()
            result.losses.append(_epoch(loop, data, sample, distill, n, on_step))
            done, result.seconds = done + n, result.seconds + time.perf_counter() - t0
            result.steps, result.epochs = done, done / loop.steps_per_epoch
            if on_state is not None:
                on_state(_state(loop, done, result.seconds))
    return result


@torch.no_grad()
def recalibrate_bn(model: nn.Module, data: KeypointDataset, images: int, batch_size: int = 64) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance of `model` as the plain average over
    the first `images` images of `data` (un-augmented, the model's device and layout); eval mode after."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.train()
    fmt = memory_format_of(model)
    for i in range(0, min(images, len(data)), batch_size):
        model(to_memory_format(to_input(data.images[i : min(i + batch_size, images)]), fmt))
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()
