"""Typed frozen configs: bounds declared next to each field, checked by one function.

    lr: float = field(default=2e-3, metadata=bounds(1e-7, 1.0))
    loss: str = field(default="dsnt", metadata=choices(LOSSES))

    def __post_init__(self) -> None:
        check_fields(self)

`check_fields` checks types (int, float, bool, str, nested configs), ranges, multiples and choices,
and raises `FieldError` naming the key. Readers of files wrap it (`from_mapping`, `in_section`) so
the message names the file and the full key path: `quick.yaml: proxy.lr: 5.0 is out of range
(allowed: 1e-07 to 1.0)`.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from nas.errors import ConfigError

__all__ = [
    "FieldError", "bounds", "choices", "check_fields", "check_keys", "check_value", "field_bounds", "from_mapping",
    "in_section", "known_keys", "parse_yaml", "read_yaml",
]

T = TypeVar("T")


class FieldError(ConfigError):
    """One bad value: keeps its key path and problem, so outer readers can add the section and the file.

    A bad choice reads "'x' is not one of a, b" from code and "'x' is not allowed (allowed: a, b)"
    in a file, like every other problem found in a file.
    """

    def __init__(self, key: str, problem: str, source: str = "", file_problem: str | None = None) -> None:
        self.key, self.problem, self.source, self.file_problem = key, problem, source, file_problem
        shown = file_problem if source and file_problem else problem
        super().__init__(": ".join(part for part in (source, key, shown) if part))

    def within(self, section: str = "", source: str = "") -> FieldError:
        """The same problem under `section` (a key path prefix) and/or read from `source`."""
        key = f"{section}.{self.key}" if section and self.key else (section or self.key)
        return FieldError(key, self.problem, source or self.source, self.file_problem)


# --- declarations -------------------------------------------------------------------------------
def bounds(lo: float, hi: float, multiple_of: int | None = None) -> dict[str, Any]:
    """Field metadata: the value must lie in [lo, hi] (and be a multiple of `multiple_of`)."""
    return {"bounds": (lo, hi), "multiple_of": multiple_of}


def choices(options: Iterable[str] | Callable[[], Iterable[str]]) -> dict[str, Any]:
    """Field metadata: the value must be one of `options` (a callable is asked when a value is
    checked, so a registry in a heavy module is imported only then)."""
    return {"choices": options if callable(options) else tuple(options)}


def field_bounds(cls: type, name: str) -> tuple[float, float]:
    """The declared (lo, hi) of `cls.name`, for parsers that read ranges of that field (search spaces)."""
    return _fields(cls)[name][0].metadata["bounds"]


def known_keys(cls: type) -> set[str]:
    return set(_fields(cls))


# --- checking -----------------------------------------------------------------------------------
@functools.cache
def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls)}


def check_fields(obj: Any) -> None:
    """Check every field of the dataclass `obj` against its type and declared metadata.

    Integral floats become ints for int fields and ints become floats for float fields (YAML writes
    `1` for 1.0), so equal configs compare and serialise equal.
    """
    for name, (f, kind) in _fields(type(obj)).items():
        value = getattr(obj, name)
        checked = check_value(name, value, kind, f.metadata)
        if checked is not value:
            object.__setattr__(obj, name, checked)


def check_value(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    """`value` checked against type `kind` and `meta` (from `bounds`/`choices`); FieldError naming `key`."""
    kind, optional = _unwrap_optional(kind)
    if value is None and optional:
        return value
    checked = _check_type(key, value, kind, meta)  # errors show the value as written (120, not 120.0)
    options = meta.get("choices")
    options = tuple(options()) if callable(options) else options
    if options is not None and value not in options:
        opts = ", ".join(options)
        raise FieldError(key, f"{value!r} is not one of {opts}",
                         file_problem=f"{value!r} is not allowed (allowed: {opts})")
    if meta.get("bounds") is not None:
        lo, hi = meta["bounds"]
        if not lo <= value <= hi:
            raise FieldError(key, f"{value!r} is out of range (allowed: {lo} to {hi})")
        step = meta.get("multiple_of")
        if step and value % step:
            raise FieldError(key, f"{value!r} is not a multiple of {step}")
    return checked


def _unwrap_optional(kind: Any) -> tuple[Any, bool]:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return (args[0] if len(args) == 1 else Any), type(None) in typing.get_args(kind)
    return kind, False


def _check_type(key: str, value: Any, kind: Any, meta: Mapping[str, Any]) -> Any:
    allowed = " (allowed: {} to {})".format(*meta["bounds"]) if meta.get("bounds") else ""
    if kind is bool:
        if not isinstance(value, bool):
            raise FieldError(key, f"{value!r} is not true or false")
    elif kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(key, f"{value!r} is not {'an integer' if kind is int else 'a number'}{allowed}")
        if kind is int:
            if not float(value).is_integer():
                raise FieldError(key, f"{value!r} is not an integer{allowed}")
            return value if type(value) is int else int(value)
        return value if type(value) is float else float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise FieldError(key, f"{value!r} is not a string")
    elif dataclasses.is_dataclass(kind) and not isinstance(value, kind):
        raise FieldError(key, f"expected a {kind.__name__}, got {type(value).__name__}")
    return value


# --- reading ------------------------------------------------------------------------------------
@contextmanager
def in_section(section: str = "", source: str = "") -> Iterator[None]:
    """Re-raise a FieldError from the block under `section` (key path prefix) and/or naming `source`."""
    try:
        yield
    except FieldError as exc:
        raise exc.within(section, source) from None


def check_keys(data: Any, allowed: Iterable[str], section: str = "", what: str = "") -> dict[str, Any]:
    """`data` as a dict; FieldError for a non-mapping or an unknown key, listing the allowed keys."""
    allowed = sorted(allowed)
    if not isinstance(data, Mapping):
        kind = f"a mapping of {what} fields" if what else f"a mapping with keys {', '.join(allowed)}"
        raise FieldError(section, f"expected {kind}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed), key=str)
    if unknown:
        key = f"{section}.{unknown[0]}" if section else str(unknown[0])
        raise FieldError(key, f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return dict(data)


def from_mapping(cls: type[T], data: Any, source: str, section: str = "") -> T:
    """`cls(**data)` with unknown keys rejected; every error names `source` (and `section`, a key path)."""
    with in_section(section, source):
        values = check_keys(data, known_keys(cls), section="", what=cls.__name__)
        try:
            return cls(**values)
        except FieldError:
            raise
        except (ConfigError, TypeError) as exc:
            raise FieldError("", str(exc)) from None


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
