"""Typed errors raised by the library. Only the CLI turns them into messages and exit codes."""
from __future__ import annotations

__all__ = [
    "NasError",
    "ConfigError",
    "DataError",
    "TrainingDiverged",
    "StudyError",
]


class NasError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(NasError, ValueError):
    """A configuration (architecture, search space, recipe) is malformed or out of range."""


class DataError(NasError):
    """A dataset or cache cannot be read or is inconsistent."""


class TrainingDiverged(NasError):
    """The loss became NaN or infinite; the run stopped instead of producing a NaN score."""


class StudyError(NasError):
    """A study or its storage cannot be opened or used."""
