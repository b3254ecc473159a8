"""Where a full retrain starts (`retrain --init`), a registry of sources; every one is sliced to the
architecture (`nas.model.slicing`), so any source at least as wide and deep serves:

- scratch: the model's own random initialisation (the default).
- supernet: the study's shared parent of the architecture's backbone (a `proxy: mode: supernet`
  study; the architecture file's `source.study` names it).
- imagenet: timm's ImageNet weights of the backbone at the nearest width timm has at or above the
  architecture's (MobileNetV2 0.5 / 1.0 / 1.4, MobileNetV3-small 0.5 / 0.75 / 1.0), sliced; the
  head starts from scratch. timm downloads them from the Hugging Face hub on first use; a folder of
  `<timm model name>.pth` / `.safetensors` files named by `HANDKP_IMAGENET_WEIGHTS` is used instead
  (offline machines, tests).
- any other value: a weights file, either a handkp-search checkpoint (its best weights) or a state
  dict of a model of the same backbone.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nas.errors import ConfigError
from nas.model.arch import ArchConfig
from nas.model.backbones import BACKBONES, OUTPUT_STRIDE

__all__ = ["INITS", "WEIGHTS_ENV", "InitialWeights", "initial_weights"]

WEIGHTS_ENV = "HANDKP_IMAGENET_WEIGHTS"


@dataclass(frozen=True)
class InitialWeights:
    tensors: dict[str, torch.Tensor]  # a state dict at least as wide and deep as the architecture
    partial: bool  # True: tensors it lacks (the head, for ImageNet) keep the model's own initialisation
    label: str  # where they came from, recorded with the run


@dataclass(frozen=True)
class InitContext:
    arch: ArchConfig
    source: Mapping[str, Any]  # the architecture file's provenance (study, trial)
    storage: str | None = None
    artifacts: Path | None = None


def _imagenet_variant(arch: ArchConfig) -> tuple[str, float]:
    widths = BACKBONES[arch.backbone].imagenet if arch.backbone in BACKBONES else {}
    if not widths:
        raise ConfigError(f"--init imagenet: no ImageNet weights known for backbone {arch.backbone!r}")
    wider = [w for w in sorted(widths) if w >= arch.backbone_width - 1e-9]
    if not wider:
        raise ConfigError(f"--init imagenet: timm has no {arch.backbone} weights at width {arch.backbone_width:g} or "
                          f"wider (widest {max(widths):g}): use a narrower architecture or another --init")
    return widths[wider[0]], wider[0]


def _local_file(variant: str) -> Path | None:
    folder = os.environ.get(WEIGHTS_ENV)
    if not folder:
        return None
    for suffix in (".safetensors", ".pth", ".pt", ".bin"):
        if (path := Path(folder) / f"{variant}{suffix}").is_file():
            return path
    raise ConfigError(f"{WEIGHTS_ENV}={folder}: no {variant}.safetensors or {variant}.pth there")


def _imagenet(ctx: InitContext) -> InitialWeights:
    import timm

    variant, width = _imagenet_variant(ctx.arch)
    file = _local_file(variant)
    overlay = {"pretrained_cfg_overlay": {"file": str(file)}} if file else {}
    try:
        backbone = timm.create_model(variant, pretrained=True, features_only=True, output_stride=OUTPUT_STRIDE,
                                     out_indices=(4,), **overlay)
    except (OSError, RuntimeError) as exc:
        where = file or "the Hugging Face hub"
        raise ConfigError(f"--init imagenet: cannot load {variant} from {where} ({exc})") from None
    tensors = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    return InitialWeights(tensors, True, f"imagenet:{variant} (width {width:g})")


def _supernet(ctx: InitContext) -> InitialWeights:
    from nas.search.proxy.supernet import ATTR_PREFIX, ParentStore
    from nas.search.study import load_existing_study

    name = ctx.source.get("study")
    if not name:
        raise ConfigError("--init supernet: the architecture file names no study (source.study); pick it from a "
                          "supernet study")
    study = load_existing_study(str(name), ctx.storage or "")
    records = [v for k, v in study.user_attrs.items()
               if k.startswith(ATTR_PREFIX) and isinstance(v, dict) and v.get("backbone") == ctx.arch.backbone]
    if not records:
        raise ConfigError(f"--init supernet: study {name!r} holds no shared {ctx.arch.backbone} parent "
                          "(was it run with --proxy supernet?)")
    store = ParentStore(study, ctx.storage, ctx.artifacts)
    return InitialWeights(store.download(records[-1]), False, f"supernet:{name}")


def _file(ctx: InitContext, path: str) -> InitialWeights:
    from nas.training.checkpoint import load_checkpoint

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--init: {path!r} is none of {', '.join(INITS)} and no such weights file")
    try:
        tensors = load_checkpoint(file).state.result.state_dict
    except ConfigError:
        tensors = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(tensors, dict) or not tensors:
        raise ConfigError(f"{file}: neither a handkp-search checkpoint with weights nor a state dict")
    return InitialWeights(dict(tensors), False, f"file:{file}")


INITS: dict[str, Callable[[InitContext], InitialWeights | None]] = {
    "scratch": lambda ctx: None, "supernet": _supernet, "imagenet": _imagenet,
}


def initial_weights(init: str, arch: ArchConfig, source: Mapping[str, Any] | None = None,
                    storage: str | None = None, artifacts: Path | None = None) -> InitialWeights | None:
    """The weights a retrain of `arch` starts from (None: scratch)."""
    ctx = InitContext(arch, source or {}, storage, artifacts)
    return INITS[init](ctx) if init in INITS else _file(ctx, init)
