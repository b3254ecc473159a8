"""Dataset format auto-detection and dispatch to the format readers."""
from __future__ import annotations

import json
from pathlib import Path

from nas.data.records import HandRecord
from nas.errors import ConfigError, DataError

__all__ = ["FORMATS", "detect_format", "read_records"]

FORMATS = ("csv", "freihand", "coco", "panoptic")
_COCO_NAME_HINTS = ("coco", "keypoints", "wholebody")


def detect_format(path: Path) -> str:
    """Which of FORMATS the file or folder at `path` holds; DataError when none fits.

    A `.json` file is COCO, a `.csv` file is CSV. A folder is FreiHAND when it has
    `training_xyz.json`; Panoptic when it has `hand_labels/` or `manual_train` / `manual_test`, or is
    itself a `manual_*` folder of `.json` files beside `.jpg` images; CSV when a `*.csv` in it starts
    with an `image,` header; COCO when a `*.json` in it (or in `annotations/`) has "annotations".
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "coco"
        if suffix == ".csv":
            return "csv"
        raise _unrecognised(path)
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise DataError(f"{path}: cannot list ({exc.strerror or exc})") from None
    if not entries:
        raise DataError(f"{path}: empty folder")
    if (path / "training_xyz.json").is_file():
        return "freihand"
    if _is_panoptic(path):
        return "panoptic"
    if any(p.suffix.lower() == ".csv" and p.is_file() and _csv_header(p) for p in entries):
        return "csv"
    if _has_coco_json(path) or _has_coco_json(path / "annotations"):
        return "coco"
    raise _unrecognised(path)


def read_records(path: Path, fmt: str) -> tuple[str, list[HandRecord]]:
    """(format, records) for the dataset at `path`; `fmt` is "auto" or one of FORMATS.

    Raises ConfigError for an unknown `fmt`, DataError for data that cannot be read.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r} is not one of auto, {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if fmt == "csv":
        from nas.data.formats.csv_format import read_csv  # written separately; imported only when needed

        return fmt, read_csv(path)
    if fmt == "freihand":
        from nas.data.formats.freihand import read_freihand

        return fmt, read_freihand(path)
    if fmt == "coco":
        from nas.data.formats.coco import read_coco

        return fmt, read_coco(path)
    from nas.data.formats.panoptic import read_panoptic

    return fmt, read_panoptic(path)


def _unrecognised(path: Path) -> DataError:
    return DataError(
        f"{path}: unrecognised dataset format (expected csv, freihand, coco or panoptic; see --format)"
    )


def _is_panoptic(folder: Path) -> bool:
    if (folder / "hand_labels").is_dir():
        return True
    if (folder / "manual_train").is_dir() or (folder / "manual_test").is_dir():
        return True
    if folder.name.startswith("manual_"):
        return any(p.with_suffix(".jpg").is_file() for p in folder.glob("*.json"))
    return False


def _csv_header(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return first.strip().startswith("image,")


def _has_coco_json(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    for p in sorted(folder.glob("*.json")):
        if not p.is_file():
            continue
        if any(hint in p.name.lower() for hint in _COCO_NAME_HINTS):
            return True
        try:
            data = json.loads(p.read_bytes())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "annotations" in data:
            return True
    return False
