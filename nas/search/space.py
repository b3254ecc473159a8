"""Search spaces: validated, frozen views of `search_spaces/*.yaml`.

A space file has four sections; every key is checked and unknown keys are rejected, so a typo
never silently falls back to a default:

    space:    what the sampler may choose (backbone, widths, head depth/width, augmentation)
    input_size: the deployed input side; cost is always counted at this size
    proxy:    the short training run that estimates each candidate's error
    data:     where the images come from (the built-in synthetic set by default)
    search:   sampler start-up, pruning percentile/warm-up and the pre-training prune margin
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nas.config import read_yaml
from nas.errors import ConfigError
from nas.keypoints.heatmap import LOSSES
from nas.model.arch import BACKBONES, HEAD_DEPTH_RANGE, HEAD_WIDTH_RANGE, WIDTH_RANGE, ArchConfig

__all__ = ["FloatRange", "IntRange", "ChoiceSpace", "ProxyBudget", "DataSpec", "SearchSettings", "SearchSpace",
           "load_space", "parse_space"]


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int


@dataclass(frozen=True)
class ChoiceSpace:
    backbone: tuple[str, ...] = BACKBONES
    backbone_width: FloatRange = FloatRange(0.25, 1.5, 0.05)
    head_width: FloatRange = FloatRange(0.125, 2.0, 0.125)
    head_depth: IntRange = IntRange(1, 4)
    aug_multiplier: IntRange = IntRange(1, 8)


@dataclass(frozen=True)
class ProxyBudget:
    train_size: int = 224  # training resolution of the proxy (errors reported at input_size)
    epochs: int = 8
    train_images: int = 30000
    val_images: int = 3000
    batch_size: int = 64
    lr: float = 5e-4
    lr_min: float = 5e-5
    loss: str = "dsnt"
    rotation: float = 180.0
    sigma: float = 2.0


@dataclass(frozen=True)
class DataSpec:
    source: str = "synthetic"  # "synthetic" or a dataset path
    seed: int = 0
    format: str = "auto"  # auto | csv | freihand | coco | panoptic (for a dataset path)
    max_bad: float = 0.01  # share of unreadable images tolerated (skipped and listed) before a load fails

    def __post_init__(self) -> None:
        formats = ("auto", "csv", "freihand", "coco", "panoptic")
        if self.format not in formats:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(formats)}")
        if not 0 <= self.max_bad < 1:
            raise ConfigError(f"max_bad: {self.max_bad!r} must be in [0, 1)")


@dataclass(frozen=True)
class SearchSettings:
    startup_trials: int = 8  # random trials before TPE models the space (baselines count)
    prune_percentile: float = 50.0  # prune a trial whose epoch score is worse than this percentile
    prune_warmup_epochs: int = 1  # never prune before this many epochs
    pre_train_margin_px: float = 1.0  # skip training when cost x exp(min error - margin) >= best score


@dataclass(frozen=True)
class SearchSpace:
    choices: ChoiceSpace = field(default_factory=ChoiceSpace)
    input_size: int = 224
    proxy: ProxyBudget = field(default_factory=ProxyBudget)
    data: DataSpec = field(default_factory=DataSpec)
    search: SearchSettings = field(default_factory=SearchSettings)
    source: str = "<defaults>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": _plain(self.choices),
            "input_size": self.input_size,
            "proxy": _plain(self.proxy),
            "data": _plain(self.data),
            "search": _plain(self.search),
        }


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return list(obj)
    return obj


# --- parsing ------------------------------------------------------------------------------------
class _Ctx:
    """Names the file and the key path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def mapping(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping with keys {', '.join(sorted(allowed))}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                            f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return dict(value)

    def number(self, value: Any, key: str, lo: float, hi: float, integer: bool = False) -> float:
        bad_type = isinstance(value, bool) or not isinstance(value, (int, float))
        if bad_type or (integer and float(value) != int(value)):
            kind = "an integer" if integer else "a number"
            raise self.fail(key, f"{value!r} is not {kind} (allowed: {lo} to {hi})")
        if not lo <= value <= hi:
            raise self.fail(key, f"{value!r} is out of range (allowed: {lo} to {hi})")
        return int(value) if integer else float(value)


def _float_range(ctx: _Ctx, raw: Any, key: str, bounds: tuple[float, float]) -> FloatRange:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        v = ctx.number(raw, key, *bounds)
        return FloatRange(v, v)
    d = ctx.mapping(raw, key, {"low", "high", "step", "log"})
    if "low" not in d or "high" not in d:
        raise ctx.fail(key, "needs low and high (or a single number)")
    lo, hi = ctx.number(d["low"], f"{key}.low", *bounds), ctx.number(d["high"], f"{key}.high", *bounds)
    if lo > hi:
        raise ctx.fail(key, f"low {lo} is above high {hi}")
    step = d.get("step")
    if step is not None:
        step = ctx.number(step, f"{key}.step", 1e-6, bounds[1])
    log = bool(d.get("log", False))
    if log and step is not None:
        raise ctx.fail(key, "step and log cannot be combined (allowed: one of them)")
    return FloatRange(lo, hi, step, log)


def _int_range(ctx: _Ctx, raw: Any, key: str, bounds: tuple[int, int]) -> IntRange:
    if isinstance(raw, int) and not isinstance(raw, bool):
        v = int(ctx.number(raw, key, *bounds, integer=True))
        return IntRange(v, v)
    d = ctx.mapping(raw, key, {"low", "high"})
    if "low" not in d or "high" not in d:
        raise ctx.fail(key, "needs low and high (or a single integer)")
    lo = int(ctx.number(d["low"], f"{key}.low", *bounds, integer=True))
    hi = int(ctx.number(d["high"], f"{key}.high", *bounds, integer=True))
    if lo > hi:
        raise ctx.fail(key, f"low {lo} is above high {hi}")
    return IntRange(lo, hi)


def _choices(ctx: _Ctx, raw: Any) -> ChoiceSpace:
    names = {f.name for f in fields(ChoiceSpace)}
    d = ctx.mapping(raw, "space", names)
    base = ChoiceSpace()
    backbone = d.get("backbone", list(base.backbone))
    backbone = [backbone] if isinstance(backbone, str) else backbone
    if not isinstance(backbone, list) or not backbone:
        raise ctx.fail("space.backbone", f"expected a list (allowed: {', '.join(BACKBONES)})")
    for b in backbone:
        if b not in BACKBONES:
            raise ctx.fail("space.backbone", f"unknown backbone {b!r} (allowed: {', '.join(BACKBONES)})")
    return ChoiceSpace(
        backbone=tuple(dict.fromkeys(backbone)),
        backbone_width=_float_range(ctx, d["backbone_width"], "space.backbone_width", WIDTH_RANGE)
        if "backbone_width" in d else base.backbone_width,
        head_width=_float_range(ctx, d["head_width"], "space.head_width", HEAD_WIDTH_RANGE)
        if "head_width" in d else base.head_width,
        head_depth=_int_range(ctx, d["head_depth"], "space.head_depth", HEAD_DEPTH_RANGE)
        if "head_depth" in d else base.head_depth,
        aug_multiplier=_int_range(ctx, d["aug_multiplier"], "space.aug_multiplier", (1, 32))
        if "aug_multiplier" in d else base.aug_multiplier,
    )


_PROXY_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "train_size": (32, 1024, True),
    "epochs": (1, 1000, True),
    "train_images": (8, 10_000_000, True),
    "val_images": (4, 10_000_000, True),
    "batch_size": (2, 4096, True),
    "lr": (1e-7, 1.0, False),
    "lr_min": (0.0, 1.0, False),
    "rotation": (0.0, 180.0, False),
    "sigma": (0.25, 16.0, False),
}
_SEARCH_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "startup_trials": (0, 10_000, True),
    "prune_percentile": (0.0, 100.0, False),
    "prune_warmup_epochs": (0, 1000, True),
    "pre_train_margin_px": (0.0, 1000.0, False),
}


def _numbers(ctx: _Ctx, raw: Any, section: str, cls: type, bounds: dict, extra: dict | None = None):
    d = ctx.mapping(raw, section, {f.name for f in fields(cls)})
    values = {}
    for name, value in d.items():
        if name in bounds:
            lo, hi, integer = bounds[name]
            values[name] = ctx.number(value, f"{section}.{name}", lo, hi, integer)
        else:
            values[name] = value
    for name, check in (extra or {}).items():
        if name in values:
            check(values[name])
    return cls(**values)


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate a parsed YAML document; every problem names `source` and the key."""
    ctx = _Ctx(source)
    top = ctx.mapping(data, "", {"space", "input_size", "proxy", "data", "search"})
    input_size = int(ctx.number(top.get("input_size", 224), "input_size", 32, 1024, integer=True))
    if input_size % 16:
        raise ctx.fail("input_size", f"{input_size} is not a multiple of 16 (the backbone stride)")

    def check_loss(v: Any) -> None:
        if v not in LOSSES:
            raise ctx.fail("proxy.loss", f"{v!r} is not allowed (allowed: {', '.join(LOSSES)})")

    proxy = _numbers(ctx, top.get("proxy"), "proxy", ProxyBudget, _PROXY_BOUNDS, {"loss": check_loss})
    if proxy.lr_min > proxy.lr:
        raise ctx.fail("proxy.lr_min", f"{proxy.lr_min} is above proxy.lr {proxy.lr}")
    if proxy.train_size % 16:
        raise ctx.fail("proxy.train_size", f"{proxy.train_size} is not a multiple of 16")
    data_d = ctx.mapping(top.get("data"), "data", {"source", "seed", "format", "max_bad"})
    source_v = data_d.get("source", "synthetic")
    if not isinstance(source_v, str) or not source_v:
        raise ctx.fail("data.source", "expected 'synthetic' or a dataset path")
    fmt_v = data_d.get("format", "auto")
    formats = ("auto", "csv", "freihand", "coco", "panoptic")
    if fmt_v not in formats:
        raise ctx.fail("data.format", f"{fmt_v!r} is not allowed (allowed: {', '.join(formats)})")
    data_spec = DataSpec(
        source_v, int(ctx.number(data_d.get("seed", 0), "data.seed", 0, 2**31 - 1, True)), fmt_v,
        float(ctx.number(data_d.get("max_bad", 0.01), "data.max_bad", 0.0, 0.99, False)),
    )
    search = _numbers(ctx, top.get("search"), "search", SearchSettings, _SEARCH_BOUNDS)
    return SearchSpace(_choices(ctx, top.get("space")), input_size, proxy, data_spec, search, source)


def load_space(path: str | Path) -> SearchSpace:
    return parse_space(read_yaml(path, "search space"), str(path))


def arch_from_params(params: Mapping[str, Any], space: SearchSpace) -> ArchConfig:
    """The architecture a trial's parameters describe (deployed at the space's input size)."""
    return ArchConfig(
        backbone=params["backbone"],
        backbone_width=round(float(params["backbone_width"]), 6),  # 0.9500000000000001 -> 0.95
        head_depth=int(params["head_depth"]),
        head_width=round(float(params["head_width"]), 6),
        input_size=space.input_size,
    )
