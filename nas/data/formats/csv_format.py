"""The CSV format: `image,x0,y0,...,x20,y20` (optionally followed by `v0,...,v20`) and the images.

Image paths are relative to the CSV's folder (an `images/` subfolder is also searched). Without
`v` columns every keypoint counts as labelled and visible. Images are hand crops: the loader
letterboxes the whole image into the input. `handkp-search data synth --out DIR` writes an example.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from nas.data.dataset import NUM_KEYPOINTS
from nas.data.records import HandRecord
from nas.errors import DataError
from nas.io import write_text_atomic

__all__ = ["read_csv", "write_csv", "csv_columns", "find_csv", "is_csv"]


def csv_columns(with_visibility: bool = True) -> list[str]:
    cols = ["image"] + [f"{a}{k}" for k in range(NUM_KEYPOINTS) for a in ("x", "y")]
    return cols + ([f"v{k}" for k in range(NUM_KEYPOINTS)] if with_visibility else [])


def is_csv(path: Path) -> bool:
    """A `.csv` file, or a folder holding a `*.csv` whose first line starts with `image,`."""
    if path.is_file():
        return path.suffix.lower() == ".csv"
    return any(p.suffix.lower() == ".csv" and p.is_file() and _image_header(p) for p in sorted(path.iterdir()))


def _image_header(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8-sig", errors="replace") as f:
            first = f.readline(4096)
    except OSError:
        return False
    return first.strip().startswith("image,")


def find_csv(path: Path) -> Path:
    """The CSV file itself, or the single *.csv in a folder."""
    if path.is_file():
        return path
    found = sorted(path.glob("*.csv"))
    if not found:
        raise DataError(f"{path}: no .csv file in this folder")
    if len(found) > 1:
        raise DataError(f"{path}: several .csv files ({', '.join(p.name for p in found)}); pass the one to use")
    return found[0]


def read_csv(path: Path) -> list[HandRecord]:
    """Records of a CSV file (or the single CSV in a folder); every bad row raises DataError naming it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    file = find_csv(path)
    rows = _rows(file)
    columns = _columns(file, next(rows, None))
    records = [_record(row, line, file, columns) for line, row in rows]
    if not records:
        raise DataError(f"{file}: no data rows")
    return records


def _rows(file: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank row, the header (line 1) first."""
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if line == 1 or (row and any(c.strip() for c in row)):
            yield line, row


def _columns(file: Path, first: tuple[int, list[str]] | None) -> list[str]:
    """The expected columns, checked against the header row."""
    if first is None:
        raise DataError(f"{file}: empty CSV")
    header = [h.strip() for h in first[1]]
    expected = csv_columns(len(header) == len(csv_columns(True)))
    if header != expected:
        raise DataError(f"{file}: header must be {','.join(csv_columns(False)[:3])},...,x20,y20 "
                        f"[,v0,...,v20] ({len(csv_columns(False))} or {len(csv_columns(True))} columns), "
                        f"got {len(header)} columns starting {','.join(header[:3])}")
    return expected


def _record(row: list[str], line: int, file: Path, columns: list[str]) -> HandRecord:
    where = f"{file}: row {line}"
    if len(row) != len(columns):
        raise DataError(f"{where}: {len(row)} columns, expected {len(columns)}")
    values = [_number(v, where, c) for c, v in zip(columns[1:], row[1:])]
    kp = np.asarray(values[: 2 * NUM_KEYPOINTS], np.float64).reshape(NUM_KEYPOINTS, 2)
    vis = _visibility(values[2 * NUM_KEYPOINTS:], where)
    name = row[0].strip()
    if not name:
        raise DataError(f"{where}: empty image name")
    return HandRecord(_image(file.parent, name, where), kp, vis, crop=False, ref=f"{file.name} row {line} ({name})")


def _number(text: str, where: str, column: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{where}: column {column}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise DataError(f"{where}: column {column}: {text!r} is not a finite number")
    return v


def _visibility(values: list[float], where: str) -> np.ndarray:
    """The v columns (0, 1 or 2), or all 2 when the file has none."""
    if not values:
        return np.full(NUM_KEYPOINTS, 2, np.uint8)
    bad = [int(v) for v in values if v not in (0.0, 1.0, 2.0)]
    if bad:
        raise DataError(f"{where}: visibility must be 0, 1 or 2, got {bad[0]}")
    return np.asarray(values, np.uint8)


def _image(root: Path, name: str, where: str) -> Path:
    """`name` in the CSV's folder, else in its images/ subfolder."""
    for image in (root / name, root / "images" / name):
        if image.is_file():
            return image
    raise DataError(f"{where}: image {name} not found (looked in {root} and {root / 'images'})")


def write_csv(path: Path, names: Iterable[str], keypoints: np.ndarray, visibility: np.ndarray) -> Path:
    """Write labels (with visibility columns) atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_columns(True))
    for name, kp, vis in zip(names, keypoints, visibility):
        w.writerow([name, *(f"{v:.3f}" for v in np.asarray(kp).reshape(-1)), *(int(v) for v in vis)])
    return write_text_atomic(path, buf.getvalue())
