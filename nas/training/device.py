"""Where a run computes: the torch device, and the memory format of its model and batches.

The memory format is a layout only: a `channels_last` (NHWC) model computes the function of the
contiguous (NCHW) one, equal to float rounding in eval mode. In training mode PyTorch's CPU
channels_last BatchNorm sums the batch statistics less precisely (about 20-50x the rounding error
of the contiguous kernel), so two runs that differ only in layout drift apart over many steps as
much as two runs on different thread counts do; their final errors agree within seed noise
(MobileNetV3-small 0.5, 4 epochs on 256 images, 3 seeds each: 14.27 vs 14.38 px mean, seeds spread
0.7 px). `auto` picks the faster layout:

- CPU: `channels_last`. `bench/bench_trainer.py` measured the plain training loop (batch 32, dsnt,
  Adam) 1.16-1.51x faster in channels_last than contiguous on a 2-core CPU, for MobileNetV3-small
  0.75 and MobileNetV2 0.75 (head 2 x 0.75) at 64 and 128 px.
- CUDA: contiguous. On an H200 (`bench/bench_trainer.py --device cuda --size 224`, batch 32, MobileNetV3-
  small 0.75 and MobileNetV2 0.75, head 2 x 0.75) the plain loop in channels_last ran 0.78x and 0.94x
  as fast as contiguous in float32, and 0.94x and 0.90x in mixed precision: these small depthwise
  models keep the GPU waiting on kernel launches, and cuDNN's NHWC depthwise kernels do not make
  that up. (PyTorch's channels-last tutorial reports 8-35% gains with mixed precision for dense
  convolutional networks.)

Mixed precision on CUDA (`amp: true` in a recipe; off by default: the same H200 runs ran it 0.79x
and 0.84x as fast as float32, contiguous) computes in bfloat16 where the GPU has it (`amp_dtype`):
it keeps float32's exponent range, so no gradient scaler runs (the scaler's overflow check reads a
value back from the GPU every step, and its skipped first steps made PyTorch warn that the learning
rate scheduler stepped before the optimizer). Older GPUs get float16 with the scaler.

On the CPU a run also flushes denormal floats to zero (`flush_denormals`): values below ~1e-38 that
appear in gradients and Adam's moments late in training take a slow path in the x86 vector units.
`bench/bench_trainer.py` measured the channels_last loop 3-12% faster with them flushed. It changes
only values 38 orders of magnitude below the weights.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import nn

from nas.errors import ConfigError

if TYPE_CHECKING:
    from nas.training.recipe import TrainConfig

__all__ = ["resolve_recipe", "resolve_device", "resolve_memory_format", "to_memory_format", "memory_format_of",
           "flush_denormals", "amp_dtype", "grad_scaler"]

_LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
T = TypeVar("T", nn.Module, torch.Tensor)


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` is CUDA when available, else the CPU; a named device that cannot be used is a
    ConfigError up front rather than a failure mid-run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: {name!r} is not a torch device (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    return dev


def resolve_memory_format(name: str, device: torch.device) -> str:
    """`channels_last` or `contiguous`: `name` itself, or for `auto` the faster layout on `device` as
    the module docstring explains."""
    if name != "auto":
        if name not in _LAYOUTS:
            raise ConfigError(f"memory_format: {name!r} is not one of auto, {', '.join(_LAYOUTS)}")
        return name
    return "channels_last" if device.type == "cpu" else "contiguous"


def amp_dtype(device: torch.device) -> torch.dtype:
    """The mixed-precision type on `device`: bfloat16 where supported (no gradient scaler needed), else float16."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """The gradient scaler of a run on `device`: working only for float16 mixed precision (bfloat16
    and float32 need none; a disabled scaler passes losses and steps through unchanged)."""
    return torch.amp.GradScaler(device.type, enabled=amp and amp_dtype(device) == torch.float16)


def resolve_recipe(config: TrainConfig) -> TrainConfig:
    """`config` with its memory format resolved for its device: the recipe a run records (on a trial,
    in a checkpoint), saying which layout it trained in. The device itself stays as written."""
    dev = resolve_device(config.device)
    return dataclasses.replace(config, memory_format=resolve_memory_format(config.memory_format, dev))


def to_memory_format(obj: T, fmt: str) -> T:
    """A model (converted in place, as `Module.to` does) or a 4-D tensor in the layout `fmt`. Every
    place that feeds or converts a model uses this: training, evaluation, prediction, and any later
    pass over a model (BatchNorm recalibration) must call it with the run's format."""
    if isinstance(obj, nn.Module):
        return obj.to(memory_format=_LAYOUTS[fmt])
    return obj.contiguous(memory_format=_LAYOUTS[fmt]) if obj.dim() == 4 else obj


def memory_format_of(model: nn.Module) -> str:
    """The layout of `model`'s 4-D weights, so its inputs can follow it. A weight laid out alike in
    both formats (a 1x1 or single-input-channel kernel) says nothing; the first that differs decides."""
    for p in model.parameters():
        if p.dim() != 4:
            continue
        cl, nchw = p.is_contiguous(memory_format=torch.channels_last), p.is_contiguous()
        if cl != nchw:
            return "channels_last" if cl else "contiguous"
    return "contiguous"


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """Denormal floats flushed to zero while the block runs on the CPU (where the CPU supports it),
    the process-wide setting put back after it; nothing changes on other devices."""
    if device.type != "cpu":
        yield
        return
    before = _denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def _denormals_flushed() -> bool:
    """Whether the CPU flushes denormals now (torch has a setter but no getter): 1e-39 becomes 0."""
    tiny = torch.full((1,), 1e-39, dtype=torch.float32)
    return bool((tiny * 1.0).item() == 0.0)
