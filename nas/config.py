"""Building frozen config dataclasses from plain mappings (YAML/JSON), naming the source on error."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from nas.errors import ConfigError

__all__ = ["from_mapping"]

T = TypeVar("T")


def from_mapping(cls: type[T], data: Any, source: str) -> T:
    """`cls(**data)` with unknown keys rejected; every ConfigError is prefixed with `source`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(known))})")
    try:
        return cls(**dict(data))
    except (ConfigError, TypeError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
