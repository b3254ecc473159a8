"""Where and how a run computes: the torch device, the memory format of its model and batches, mixed
precision, and whether its training step and its evaluation run as captured CUDA graphs. The figures
behind each `auto` choice are in docs/results/trainer-format.jsonl (`bench/bench_trainer.py`).

The memory format is a layout only: a `channels_last` (NHWC) model computes the function of the
contiguous (NCHW) one, equal to float rounding in eval mode. In training mode PyTorch's CPU
channels_last BatchNorm sums the batch statistics less precisely than the contiguous kernel, so two
runs that differ only in layout drift apart over many steps as much as two runs on different thread
counts do; their final errors agree within seed noise. `auto` picks the faster layout: channels_last
on the CPU; on CUDA channels_last with mixed precision and contiguous without it (these small
depthwise models gain from NHWC only in bfloat16).

Mixed precision (`amp`, CUDA only; `auto` is on there) computes in bfloat16 where the GPU has it
(`amp_dtype`): it keeps float32's exponent range, so no gradient scaler runs. Older GPUs get float16
with the scaler, whose overflow check reads a value back from the GPU every step.

A captured step (`cuda_graph`, CUDA only; `auto` is on there unless the float16 gradient scaler runs,
which cannot be captured) replays forward, loss, backward and the Adam update as one CUDA graph
(`nas.training.graph_step`): the GPU no longer waits on the launch of each of the many small kernels
of these models.

Captured evaluation (`eval_graph`, CUDA only; off by default until a GPU has measured what it saves,
`auto` is on where the training step is captured) replays each validation batch's forward pass and
decoding, in float32 as eagerly, as one CUDA graph (`nas.training.graph_eval`).

On the CPU a run computes in float32, eagerly, whatever `amp`, `cuda_graph` and `eval_graph` say, and it flushes
denormal floats to zero (`flush_denormals`): values below ~1e-38 that appear in gradients and Adam's
moments late in training take a slow path in the x86 vector units. It changes only values 38 orders
of magnitude below the weights.
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

__all__ = ["resolve_recipe", "resolve_device", "resolve_memory_format", "resolve_amp", "resolve_cuda_graph",
           "resolve_eval_graph",
           "uses_amp", "to_memory_format", "memory_format_of", "flush_denormals", "amp_dtype", "grad_scaler"]

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


def resolve_memory_format(name: str, device: torch.device, amp: bool = False) -> str:
    """`channels_last` or `contiguous`: `name` itself, or for `auto` the faster layout on `device`
    (with mixed precision `amp` or without) as the module docstring explains."""
    if name != "auto":
        if name not in _LAYOUTS:
            raise ConfigError(f"memory_format: {name!r} is not one of auto, {', '.join(_LAYOUTS)}")
        return name
    return "channels_last" if device.type == "cpu" or amp else "contiguous"


def resolve_amp(name: str, device: torch.device) -> str:
    """`on` or `off`: mixed precision runs on CUDA only, where `auto` turns it on."""
    return "on" if device.type == "cuda" and name in ("auto", "on") else "off"


def uses_amp(config: TrainConfig, device: torch.device) -> bool:
    """Whether a run of `config` on `device` computes its forward pass in mixed precision."""
    return resolve_amp(config.amp, device) == "on"


def resolve_cuda_graph(name: str, device: torch.device, amp: bool) -> str:
    """`on` or `off`: a captured step runs on CUDA only, where `auto` turns it on unless the float16
    gradient scaler runs (with `amp` on a GPU without bfloat16), which cannot be captured; asking
    for it (`on`) there is a ConfigError."""
    if device.type != "cuda" or name == "off":
        return "off"
    if amp and amp_dtype(device) == torch.float16:
        if name == "on":
            raise ConfigError("cuda_graph: 'on' cannot capture this GPU's mixed precision (float16, whose gradient "
                              "scaler reads a value back every step): set amp: off, or cuda_graph: auto or off")
        return "off"
    return "on"


def resolve_eval_graph(name: str, device: torch.device, cuda_graph: str) -> str:
    """`on` or `off`: captured evaluation runs on CUDA only; `auto` follows the resolved `cuda_graph`."""
    if device.type != "cuda" or name == "off":
        return "off"
    return cuda_graph if name == "auto" else "on"


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
    """`config` with its mixed precision, captured step and evaluation, and memory format resolved for
    its device: the recipe a run records (on a trial, in a checkpoint), saying how it computed. The
    device itself stays as written. Resolving a resolved recipe changes nothing."""
    dev = resolve_device(config.device)
    amp = resolve_amp(config.amp, dev)
    graph = resolve_cuda_graph(config.cuda_graph, dev, amp == "on")
    return dataclasses.replace(config, amp=amp, cuda_graph=graph,
                               eval_graph=resolve_eval_graph(config.eval_graph, dev, graph),
                               memory_format=resolve_memory_format(config.memory_format, dev, amp == "on"))


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
