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

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nas.data.dataset import KeypointDataset
from nas.keypoints.losses import heatmap_loss
from nas.model.arch import ArchConfig
from nas.model.network import HEATMAP_STRIDE
from nas.model.slicing import child_template, child_tensors, named_tensors
from nas.training.device import flush_denormals, memory_format_of, to_memory_format
from nas.training.evaluation import to_input
from nas.training.loop import Loop, RunState, batches_per_pass, restore, run_steps, set_up
from nas.training.recipe import TrainConfig

__all__ = ["SupernetState", "SupernetResult", "train_supernet", "epoch_steps", "recalibrate_bn", "ChildSampler"]

ChildSampler = Callable[[random.Random], Sequence[ArchConfig]]  # the children of one step, largest first


@dataclass
class SupernetState(RunState):
    """A supernet run's checkpoint: the loop's state and which children come next."""

    sampler: tuple  # the child sampler's random.Random state

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields(), "sampler": self.sampler}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SupernetState:
        return cls(**d)


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


class _Sandwich:
    """One step of the sandwich rule on a batch: the children `sample(rng)` draws, each child's loss
    backpropagated on its own (one child's activations held at a time), then one Adam step."""

    def __init__(self, loop: Loop, sample: ChildSampler, rng: random.Random, distill: float) -> None:
        # the loop's parts, not the loop, which holds this step: no reference cycle keeps a run alive
        self.model, self.opt, self.sched, self.config = loop.model, loop.opt, loop.sched, loop.config
        self.sample, self.rng, self.distill = sample, rng, distill

    def __call__(self, images: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        weight = (vis > 0).float()
        tensors, teacher, total = named_tensors(self.model), None, torch.zeros((), device=images.device)
        self.opt.zero_grad(set_to_none=True)
        for arch in self.sample(self.rng):
            loss, out = _loss(self.model, arch, tensors, images, kp, weight, self.config, teacher, self.distill)
            loss.backward()
            teacher = out.detach().float() if teacher is None else teacher
            total += loss.detach()
        self.opt.step()
        self.sched.step()
        return total


def epoch_steps(config: TrainConfig, images: int, epochs: float) -> int:
    """Optimizer steps in `epochs` (fractional) epochs of `images` at the config's batch size, at least 1."""
    return max(1, round(epochs * config.aug_multiplier * batches_per_pass(config, images)))


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
    loop = set_up(parent, config, device, len(data), memory_format, steps)
    rng, result = random.Random(config.seed), SupernetResult(0.0, 0, 0.0)
    if resume is not None:
        restore(loop, resume)
        rng.setstate(resume.sampler)
    loop.step = _Sandwich(loop, sample, rng, distill)
    with flush_denormals(device):
        while loop.steps < loop.total_steps:
            steps = min(loop.steps_per_epoch, loop.total_steps - loop.steps)
            result.losses.append(run_steps(loop, data, steps, on_step))
            if on_state is not None:
                on_state(SupernetState(**vars(loop.state()), sampler=rng.getstate()))
    result.epochs, result.steps, result.seconds = loop.steps / loop.steps_per_epoch, loop.steps, loop.seconds
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
