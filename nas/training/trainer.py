"""The proxy/full trainer: Adam, one half-cosine learning rate over the whole run, batched
on-device augmentation, best-on-validation weights. It knows nothing of the search: callers get
per-epoch statistics through `on_epoch` (which may raise to stop, e.g. a pruner)."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError, TrainingDiverged
from nas.keypoints.augment import random_affine
from nas.keypoints.heatmap import heatmap_loss
from nas.model.network import HEATMAP_STRIDE
from nas.training.device import resolve_device
from nas.training.evaluation import evaluate, to_input
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
    history: list[EpochStats] = field(default_factory=list)
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


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
    """Train `model` in place and load its best-validation weights before returning.

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
    use_amp = config.amp and device.type == "cuda"
    model.to(device)
    train_d, val_d = train_data.to(device), val_data.to(device)
    px_scale = (target_size or train_d.size) / train_d.size
    n = len(train_d)
    batch = min(config.batch_size, n)
    steps_per_pass = max(1, n // batch)  # drop the ragged last batch (BatchNorm needs > 1 sample)
    steps_per_epoch = config.aug_multiplier * steps_per_pass
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=config.lr_min)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    gen = torch.Generator(device=device).manual_seed(config.seed)
    result = TrainResult(math.inf, 0.0, 0.0, math.nan, 0, 0.0, 0.0, px_scale)
    images_seen, loop_seconds, start = 0, 0.0, 1
    if resume is not None:
        if resume.epoch > config.epochs:
            raise ConfigError(f"cannot resume after epoch {resume.epoch}: the recipe has only {config.epochs}")
        model.load_state_dict(resume.model)
        opt.load_state_dict(resume.optimizer)
        sched.load_state_dict(resume.scheduler)
        scaler.load_state_dict(resume.scaler)
        try:
            gen.set_state(resume.generator.to("cpu"))
        except RuntimeError:
            raise ConfigError(f"cannot resume on {device.type}: the run was checkpointed on another device type"
                              ) from None
        result, images_seen, loop_seconds = resume.result, resume.images_seen, resume.loop_seconds
        start = resume.epoch + 1
    for epoch in range(start, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            if step % steps_per_pass == 0:
                perm = torch.randperm(n, generator=gen, device=device)
            idx = perm[(step % steps_per_pass) * batch :][:batch]
            imgs, kps, vis = random_affine(
                to_input(train_d.images[idx]), train_d.keypoints[idx], train_d.visibility[idx],
                config.rotation, config.flip, gen,
            )
            with torch.autocast(device.type, enabled=use_amp):
                out = model(imgs)
            loss = heatmap_loss(config.loss, out.float(), kps, (vis > 0).float(), HEATMAP_STRIDE, config.sigma)
            if device.type == "cpu":
                _check_finite(loss, epoch, step)  # free on CPU; on CUDA checked per epoch (no sync)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            loss_sum += loss.detach()
            if on_step is not None:
                on_step(step + 1, steps_per_epoch)
        mean_loss = loss_sum / steps_per_epoch
        _check_finite(mean_loss, epoch, steps_per_epoch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        loop = time.perf_counter() - t0
        loop_seconds += loop
        images_seen += steps_per_epoch * batch
        m = evaluate(model, val_d, config.loss, config.eval_batch_size, px_scale)
        stats = EpochStats(
            epoch, mean_loss.item(), m.px_error, m.pck, m.auc, opt.param_groups[0]["lr"],
            steps_per_epoch * batch / loop, time.perf_counter() - t0,
        )
        result.history.append(stats)
        if m.px_error < result.px_error:
            result.px_error, result.pck, result.auc, result.loss, result.best_epoch = (
                m.px_error, m.pck, m.auc, stats.train_loss, epoch,
            )
            result.state_dict = _cpu_copy(model.state_dict())
        result.images_per_s = images_seen / loop_seconds
        result.train_seconds += stats.seconds
        if on_state is not None:
            on_state(TrainState(
                epoch, _cpu_copy(model.state_dict()), opt.state_dict(), sched.state_dict(), scaler.state_dict(),
                gen.get_state(), result, images_seen, loop_seconds,
            ))
        if on_epoch is not None:
            on_epoch(stats)
    model.load_state_dict(result.state_dict)
    return result
