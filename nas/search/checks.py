"""Partial scores within an epoch, so the pruner can stop a short proxy before its budget is spent.

The trainer reports after each epoch. A proxy of two or three epochs with a warm-up of one or two
then has its first prunable report at (or one before) its last epoch, when stopping saves nothing.
`WithinEpochChecks` wraps the trainer's per-step callback: `per_epoch - 1` times within each epoch
(at even fractions of its steps) it validates the model on a fixed subset of the validation images
and hands the error to `report(step, px_error)`. Steps count checks: the end of epoch e is step
`e * per_epoch`, the q-th check within it step `(e - 1) * per_epoch + q`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from nas.data.dataset import KeypointDataset
from nas.training.evaluation import evaluate

__all__ = ["WithinEpochChecks", "check_step"]

OnStep = Callable[[int, int], None]


def check_step(epoch: int, per_epoch: int, check: int | None = None) -> int:
    """The report step of the end of `epoch` (1-based), or of its `check`-th check within it."""
    return (epoch - 1) * per_epoch + (check if check is not None else per_epoch)


@dataclass
class WithinEpochChecks:
    """An `on_step` callback that also validates the training model a few times per epoch."""

    model: nn.Module  # the model being trained (its device and layout are followed)
    val: KeypointDataset  # the validation set; its first `images` are checked
    images: int
    loss: str
    target_size: int  # input side the errors are reported at, as the trainer reports them
    per_epoch: int
    report: Callable[[int, float], None]  # (step, px error)
    inner: OnStep | None = None  # the caller's own per-step callback
    batch_size: int = 128
    epoch: int = field(default=1, init=False)  # the epoch being trained (1-based)
    _checked: KeypointDataset | None = field(default=None, init=False, repr=False)
    _marks: dict[int, int] | None = field(default=None, init=False, repr=False)  # step -> check within the epoch

    def __call__(self, done: int, total: int) -> None:
        if self.inner is not None:
            self.inner(done, total)
        if done == total:
            self.epoch += 1
            return
        check = self._check_at(done, total)
        if check is not None:
            self.report(check_step(self.epoch, self.per_epoch, check), self._error())

    def _check_at(self, done: int, total: int) -> int | None:
        """Which check (1 .. per_epoch - 1) falls on step `done` of `total`, if any."""
        if self._marks is None:  # an epoch's steps are the same every epoch: the marks are worked out once
            self._marks = {max(1, round(q * total / self.per_epoch)): q for q in range(1, self.per_epoch)}
        return self._marks.get(done) if done < total else None

    def _error(self) -> float:
        device = next(self.model.parameters()).device
        if self._checked is None or self._checked.images.device != device:
            self._checked = self.val.subset(slice(0, self.images)).to(device)
        px_scale = self.target_size / self._checked.size
        return evaluate(self.model, self._checked, self.loss, self.batch_size, px_scale).px_error
