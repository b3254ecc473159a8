"""Search spaces: validated, frozen views of `search_spaces/*.yaml`.

A space file has five sections; every key is checked and unknown keys are rejected, so a typo
never silently falls back to a default:

    space:    what the sampler may choose (backbone, widths, head depth/width, augmentation)
    input_size: the deployed input side; cost is always counted at this size
    proxy:    the short training run that estimates each candidate's error (flat: its keys epochs,
              batch_size, lr, lr_min, loss, rotation and sigma are fields of its `TrainConfig`)
    data:     where the images come from (the built-in synthetic set by default)
    search:   sampler start-up, pruning percentile/warm-up/checks per epoch, the pre-training skip margin and the
              baseline repeats that measure the proxy's seed noise
    supernet: the weight-sharing parent's training budget (used when `proxy: mode: supernet`)

Bounds and defaults are the configs' own (`ArchConfig`, `TrainConfig`, `DataSpec`): a range in
`space:` is checked against the bounds of the field it samples.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nas.config import (
    FieldError,
    bounds,
    check_fields,
    check_keys,
    check_value,
    choices,
    field_bounds,
    in_section,
    known_keys,
    read_yaml,
)
from nas.data.spec import WHERE_FIELDS, DataSpec
from nas.model.arch import INPUT_SIZE_RANGE, STRIDE, WIDTH_RANGE, ArchConfig, backbone_names
from nas.training.recipe import FULL_AUG, TrainConfig

__all__ = ["FloatRange", "IntRange", "ChoiceSpace", "ProxyBudget", "SearchSettings", "SearchSpace", "RECIPE_KEYS",
           "PROXY_MODES", "SupernetBudget",
           "load_space", "parse_space"]

RECIPE_KEYS = ("epochs", "batch_size", "lr", "lr_min", "loss", "rotation", "sigma")  # proxy: keys of its recipe
# the flat `proxy:` section, in the order files and stored studies use
_PROXY_KEYS = ("mode", "train_size", "epochs", "train_images", "val_images", "batch_size", "lr", "lr_min", "loss",
               "rotation", "sigma", "finetune_epochs")
_TOP_KEYS = ("space", "input_size", "proxy", "data", "search", "supernet")
PROXY_MODES = ("scratch", "supernet")  # each candidate trained from scratch | sliced out of a shared parent
_SIDE = bounds(*INPUT_SIZE_RANGE, multiple_of=STRIDE)  # an input side: the deployed one, the proxy's


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
    backbone: tuple[str, ...] = field(default_factory=backbone_names)  # every registered backbone
    backbone_width: FloatRange = FloatRange(*WIDTH_RANGE, 0.05)
    head_width: FloatRange = FloatRange(0.125, 2.0, 0.125)
    head_depth: IntRange = IntRange(1, 4)
    aug_multiplier: IntRange = IntRange(1, 8)


@dataclass(frozen=True)
class ProxyBudget:
    """The short run that estimates a candidate's error: its resolution, image counts and recipe
    (whose aug_multiplier, device and seed each trial sets)."""

    train_size: int = field(default=224, metadata=_SIDE)
    train_images: int = field(default=30000, metadata=bounds(8, 10_000_000))
    val_images: int = field(default=3000, metadata=bounds(4, 10_000_000))
    recipe: TrainConfig = field(default_factory=TrainConfig)
    mode: str = field(default="scratch", metadata=choices(PROXY_MODES))
    # supernet mode: epochs of fine-tuning a sliced child before its validation (0: none; pruning per epoch)
    finetune_epochs: int = field(default=0, metadata=bounds(0, 1000))

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """The flat `proxy:` section."""
        return {k: getattr(self.recipe if k in RECIPE_KEYS else self, k) for k in _PROXY_KEYS}

    @classmethod
    def from_dict(cls, data: Any, section: str = "proxy") -> ProxyBudget:
        """From the flat `proxy:` section; missing keys take `TrainConfig`'s and this class's defaults."""
        d = check_keys({} if data is None else data, _PROXY_KEYS, section)
        with in_section(section):
            return cls(recipe=TrainConfig(**{k: d.pop(k) for k in RECIPE_KEYS if k in d}), **d)

    def updated(self, **flat: Any) -> ProxyBudget:
        """This budget with some flat `proxy:` keys changed (e.g. epochs=2, train_images=64)."""
        return ProxyBudget.from_dict({**self.to_dict(), **flat})


@dataclass(frozen=True)
class SearchSettings:
    startup_trials: int = field(default=8, metadata=bounds(0, 10_000))  # random trials before TPE (baselines count)
    prune_percentile: float = field(default=50.0, metadata=bounds(0.0, 100.0))  # prune worse than this percentile
    prune_warmup_epochs: int = field(default=1, metadata=bounds(0, 1000))  # never prune before this many epochs
    # partial scores reported per epoch: at the epoch's end and k-1 times within it (validated on the first
    # `check_images` validation images), so a short proxy can be pruned before its budget is spent
    checks_per_epoch: int = field(default=4, metadata=bounds(1, 100))
    check_images: int = field(default=512, metadata=bounds(1, 1_000_000))
    # the pre-training skip (nas.search.skip): on, the margin its bet allows, in deployed pixels, and the
    # peers (complete trials at least as dear, trained at least as long) it needs before it skips
    pre_train_skip: bool = True
    pre_train_margin_px: float = field(default=1.0, metadata=bounds(0.0, 1000.0))
    pre_train_min_peers: int = field(default=3, metadata=bounds(1, 10_000))
    # the first N baselines are trained once more with another seed, to measure the proxy's seed noise
    # (the report's "Proxy noise"); repeats count towards --trials and are not ranked as candidates
    repeats: int = field(default=0, metadata=bounds(0, 10))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class SupernetBudget:
    """How the shared parent of `proxy: mode: supernet` is trained (sandwich rule, `nas.training.supernet`),
    at the proxy's resolution on the first `train_images` of the study's training split."""

    epochs: float = field(default=10.0, metadata=bounds(0.01, 10_000))  # fractional: the budget is in steps
    train_images: int = field(default=4000, metadata=bounds(8, 10_000_000))
    children_per_step: int = field(default=2, metadata=bounds(0, 64))  # random ones, beside largest and smallest
    batch_size: int = field(default=32, metadata=bounds(2, 4096))
    lr: float = field(default=4e-3, metadata=bounds(1e-7, 1.0))
    lr_min: float = field(default=1e-4, metadata=bounds(0.0, 1.0))
    distill: float = field(default=0.0, metadata=bounds(0.0, 100.0))  # weight of in-place distillation (0: off)
    bn_images: int = field(default=256, metadata=bounds(1, 1_000_000))  # BatchNorm recalibration per child

    def __post_init__(self) -> None:
        check_fields(self)
        if self.lr_min > self.lr:
            raise FieldError("lr_min", f"{self.lr_min!r} is above lr {self.lr!r}")


@dataclass(frozen=True)
class SearchSpace:
    choices: ChoiceSpace = field(default_factory=ChoiceSpace)
    input_size: int = field(default=ArchConfig.input_size, metadata=_SIDE)
    proxy: ProxyBudget = field(default_factory=ProxyBudget)
    data: DataSpec = field(default_factory=DataSpec)  # the space sets its source fields (WHERE_FIELDS)
    search: SearchSettings = field(default_factory=SearchSettings)
    supernet: SupernetBudget = field(default_factory=SupernetBudget)
    source: str = "<defaults>"

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def proxy_sees_aug(self) -> bool:
        """Whether the proxy's error depends on the augmentation multiplier: not for children sliced
        out of a supernet and validated without fine-tuning."""
        return self.proxy.mode != "supernet" or self.proxy.finetune_epochs > 0

    def aug_range(self) -> IntRange:
        """The augmentation multipliers a trial draws from: the space's range where the proxy sees the
        multiplier; else the full recipe's (FULL_AUG) brought into that range, for every trial, since
        drawing it would only repeat evaluations and leave the pick's retrain multiplier to chance."""
        r = self.choices.aug_multiplier
        if self.proxy_sees_aug:
            return r
        fixed = min(max(FULL_AUG, r.low), r.high)
        return IntRange(fixed, fixed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": _plain(self.choices),
            "input_size": self.input_size,
            "proxy": self.proxy.to_dict(),
            "data": self.data.where(),
            "search": _plain(self.search),
            "supernet": _plain(self.supernet),
        }


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return list(obj)
    return obj


# --- parsing ------------------------------------------------------------------------------------
def _range(raw: Any, key: str, kind: type, limits: tuple[float, float]) -> FloatRange | IntRange:
    """A `space:` range, {low, high[, step | log]} or one value, within the sampled field's bounds."""
    meta = bounds(*limits)
    if not isinstance(raw, Mapping):  # a single value fixes the parameter
        value = check_value(key, raw, kind, meta)
        return FloatRange(value, value) if kind is float else IntRange(value, value)
    d = check_keys(raw, ("low", "high", "step", "log") if kind is float else ("low", "high"), key)
    if "low" not in d or "high" not in d:
        raise FieldError(key, f"needs low and high (or a single {'number' if kind is float else 'integer'})")
    low, high = (check_value(f"{key}.{k}", d[k], kind, meta) for k in ("low", "high"))
    if low > high:
        raise FieldError(key, f"low {low} is above high {high}")
    if kind is int:
        return IntRange(low, high)
    step = d.get("step")
    if step is not None:
        step = check_value(f"{key}.step", step, float, bounds(1e-6, limits[1]))
    log = check_value(f"{key}.log", d.get("log", False), bool, {})
    if log and step is not None:
        raise FieldError(key, "step and log cannot be combined (allowed: one of them)")
    return FloatRange(low, high, step, log)


# each sampled range: its type and the config whose field declares its bounds
_RANGES: dict[str, tuple[type, type]] = {
    "backbone_width": (float, ArchConfig), "head_width": (float, ArchConfig), "head_depth": (int, ArchConfig),
    "aug_multiplier": (int, TrainConfig),
}


def _backbones(raw: Any) -> tuple[str, ...]:
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise FieldError("space.backbone", f"expected a list (allowed: {', '.join(backbone_names())})")
    for name in names:
        if name not in backbone_names():
            raise FieldError("space.backbone", f"unknown backbone {name!r} (allowed: {', '.join(backbone_names())})")
    return tuple(dict.fromkeys(names))


def _choices(raw: Any) -> ChoiceSpace:
    d = check_keys({} if raw is None else raw, known_keys(ChoiceSpace), "space")
    values: dict[str, Any] = {name: _range(d[name], f"space.{name}", kind, field_bounds(owner, name))
                              for name, (kind, owner) in _RANGES.items() if name in d}
    if "backbone" in d:
        values["backbone"] = _backbones(d["backbone"])
    return ChoiceSpace(**values)


def _section(cls: type, raw: Any, section: str, keys: tuple[str, ...] | None = None) -> Any:
    d = check_keys({} if raw is None else raw, keys or known_keys(cls), section)
    with in_section(section):
        return cls(**d)


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate a parsed YAML document; every problem names `source` and the key path."""
    with in_section(source=source):
        top = check_keys({} if data is None else data, _TOP_KEYS)
        return SearchSpace(
            _choices(top.get("space")), top.get("input_size", ArchConfig.input_size),
            ProxyBudget.from_dict(top.get("proxy")), _section(DataSpec, top.get("data"), "data", WHERE_FIELDS),
            _section(SearchSettings, top.get("search"), "search"),
            _section(SupernetBudget, top.get("supernet"), "supernet"), source,
        )


AUTO_SPACES = {"cpu": Path("search_spaces/quick.yaml"), "cuda": Path("search_spaces/gpu.yaml")}


def auto_space(path: Path, device: Any) -> Path:
    """`path` itself, or for `auto` the space file sized for `device` (a torch device): the 224 px
    GPU space on CUDA, the CPU-sized one elsewhere."""
    if str(path) != "auto":
        return path
    return AUTO_SPACES["cuda" if getattr(device, "type", str(device)) == "cuda" else "cpu"]


def load_space(path: str | Path) -> SearchSpace:
    return parse_space(read_yaml(path, "search space"), str(path))
