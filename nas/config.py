"""Building frozen config dataclasses from plain mappings (YAML/JSON), naming the source on error."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from nas.errors import ConfigError

__all__ = ["from_mapping", "parse_yaml", "read_yaml"]

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


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> Python data; ConfigError naming `source` and the line on a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where} ({getattr(exc, 'problem', None) or exc})") from None


def read_yaml(path: str | Path, what: str = "") -> Any:
    """The YAML file at `path`, parsed; ConfigError naming the file when it cannot be read or parsed.
    `what` says what the file was meant to be (in the message: "cannot read search space")."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read{' ' + what if what else ''} ({exc.strerror})") from None
    return parse_yaml(text, str(path))
