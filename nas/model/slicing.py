"""Children of a parent network by slicing: weight sharing across widths and depths.

timm's generators build MobileNetV2 / MobileNetV3-small at every width with the same parameter names,
and the head names its residual blocks `blocks.i` at every depth (`nas.model.head`). So for an
architecture no wider or deeper than a parent of the same backbone, every tensor of the child's
state dict is a *leading slice* of the parent's tensor of the same name: channels in every dimension,
head blocks by index (once-for-all / BigNAS weight sharing).

`child_tensors` returns those slices as views: a child's forward through
`torch.func.functional_call(child, child_tensors(parent, child), x)` runs on the parent's own storage,
so its gradients reach the parent's parameters. `child_model` copies them into a standalone model,
which is exactly what `build_model` builds for the child's config (same modules, same cost).
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import torch
from torch import nn

from nas.errors import ConfigError
from nas.model.arch import ArchConfig
from nas.model.network import build_model

__all__ = ["SliceError", "child_tensors", "child_model", "child_template", "named_tensors", "load_sliced"]


class SliceError(ConfigError):
    """An architecture cannot be sliced out of a parent (other backbone, or wider or deeper somewhere)."""


def _slice(parent: torch.Tensor, shape: torch.Size, name: str) -> torch.Tensor:
    if parent.dim() != len(shape) or any(c > p for c, p in zip(shape, parent.shape)):
        raise SliceError(f"{name}: the child's {tuple(shape)} is not a leading slice of the parent's "
                         f"{tuple(parent.shape)}")
    return parent[tuple(slice(0, c) for c in shape)]


def child_tensors(parent: Mapping[str, torch.Tensor], child: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of `child` as a leading slice (a view) of `parent`'s tensor of the
    same name (`parent`: a module's named parameters and buffers, or a state dict)."""
    out = {}
    for name, tensor in (*child.named_parameters(), *child.named_buffers()):
        if name not in parent:
            raise SliceError(f"{name}: the parent has no such tensor (a child must not be deeper than its parent)")
        out[name] = _slice(parent[name], tensor.shape, name)
    return out


def named_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's parameters and buffers by name (what `child_tensors` slices)."""
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


@functools.lru_cache(maxsize=64)
def child_template(arch: ArchConfig) -> nn.Module:
    """A module of the child's structure whose own weights are never used (it runs through
    `functional_call` on slices): built once per architecture, kept for the next step that draws it."""
    return build_model(arch, seed=None)


def child_model(parent: nn.Module, arch: ArchConfig) -> nn.Module:
    """A standalone model of `arch` holding copies of its slices of `parent` (on the parent's device),
    identical to `build_model(arch)` loaded with those weights."""
    parent_backbone = getattr(getattr(parent, "arch", None), "backbone", arch.backbone)
    if parent_backbone != arch.backbone:
        raise SliceError(f"a {arch.backbone} child cannot be sliced out of a {parent_backbone} parent")
    model = build_model(arch, seed=None)
    sliced = child_tensors(named_tensors(parent), model)
    with torch.no_grad():
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            tensor.copy_(sliced[name])
    return model.to(next(parent.parameters()).device)


def load_sliced(model: nn.Module, source: Mapping[str, torch.Tensor], partial: bool = False) -> list[str]:
    """Copy into `model` the leading slices of `source`'s tensors (a wider or deeper model's state
    dict); with `partial`, tensors `source` lacks keep the model's own values (e.g. a head when
    `source` holds a backbone only). Returns the names copied."""
    copied = []
    with torch.no_grad():
        for name, tensor in model.state_dict().items():  # the model's own storage; persistent tensors only
            if name not in source:
                if partial:
                    continue
                raise SliceError(f"{name}: the weights have no such tensor")
            tensor.copy_(_slice(source[name], tensor.shape, name))
            copied.append(name)
    return copied
