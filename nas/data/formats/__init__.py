"""Dataset formats: a registry of name -> (reader, detector), used by auto-detection and the loader.

A reader turns annotations into `list[HandRecord]` (see nas/data/records.py); a detector says
whether a file or non-empty folder holds its format. Auto-detection tries the formats by
priority (a tell-tale file or folder before a file-type guess), then in registration order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nas.data.formats.coco import is_coco, read_coco
from nas.data.formats.csv_format import is_csv, read_csv
from nas.data.formats.freihand import is_freihand, read_freihand
from nas.data.formats.panoptic import is_panoptic, read_panoptic
from nas.data.records import HandRecord
from nas.errors import ConfigError, DataError

__all__ = ["AUTO", "FORMATS", "FORMAT_CHOICES", "DatasetFormat", "REGISTRY", "detect_format", "read_records"]


@dataclass(frozen=True)
class DatasetFormat:
    read: Callable[[Path], list[HandRecord]]
    detect: Callable[[Path], bool]
    priority: int = 0  # auto-detection tries higher first


REGISTRY: dict[str, DatasetFormat] = {
    "csv": DatasetFormat(read_csv, is_csv),
    "freihand": DatasetFormat(read_freihand, is_freihand, priority=1),  # has training_xyz.json
    "coco": DatasetFormat(read_coco, is_coco),
    "panoptic": DatasetFormat(read_panoptic, is_panoptic, priority=1),  # has hand_labels/ or manual_*/
}
AUTO = "auto"
FORMATS = tuple(REGISTRY)
"""The dataset formats a reader exists for."""
FORMAT_CHOICES = (AUTO, *FORMATS)
"""What a `format` option accepts."""


def detect_format(path: Path) -> str:
    """Which of FORMATS the file or folder at `path` holds; DataError when none fits."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            empty = next(path.iterdir(), None) is None
        except OSError as exc:
            raise DataError(f"{path}: cannot list ({exc.strerror or exc})") from None
        if empty:
            raise DataError(f"{path}: empty folder")
    for name, fmt in sorted(REGISTRY.items(), key=lambda item: -item[1].priority):
        if fmt.detect(path):
            return name
    raise DataError(f"{path}: unrecognised dataset format (expected {_listed(FORMATS, 'or')}; see --format)")


def read_records(path: Path, fmt: str) -> tuple[str, list[HandRecord]]:
    """(format, records) for the dataset at `path`; `fmt` is one of FORMAT_CHOICES.

    Raises ConfigError for an unknown `fmt`, DataError for data that cannot be read.
    """
    if fmt not in FORMAT_CHOICES:
        raise ConfigError(f"format: {fmt!r} is not one of {', '.join(FORMAT_CHOICES)}")
    path = Path(path)
    if fmt == AUTO:
        fmt = detect_format(path)
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return fmt, REGISTRY[fmt].read(path)


def _listed(names: tuple[str, ...], last: str) -> str:
    """'a, b, c or d'."""
    return f"{', '.join(names[:-1])} {last} {names[-1]}"
