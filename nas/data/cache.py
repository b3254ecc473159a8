"""The on-disk array cache shared by the synthetic renderer and the dataset decoder.

An entry is a folder `<root>/<name>/` named by a hash of everything its content depends on:
one `.npy` file per array (all with the same number of rows) and `meta.json` (`count` plus the
producer's own fields). It is filled under a temporary name and renamed into place only when
complete (`nas.io.atomic_dir`), so a killed run leaves nothing a later run trusts; reading checks
every array's shape and dtype, so a damaged entry reads as missing and is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import DataError
from nas.io import atomic_dir

__all__ = [
    "CACHE_ENV", "Columns", "Entry", "default_cache_dir", "cache_root", "digest", "read_entry", "build_entry",
    "write_meta", "create_rows", "open_rows",
]

CACHE_ENV = "HANDKP_CACHE"
META = "meta.json"

Columns = Mapping[str, tuple[tuple[int, ...], Any]]
"""Array name -> (shape of one row, dtype): what an entry must hold."""

Entry = tuple[dict[str, np.ndarray], dict[str, Any]]
"""(arrays by name, meta.json's content)."""


def default_cache_dir() -> Path:
    """$HANDKP_CACHE if set, else ~/.cache/handkp-search."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "handkp-search"


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """The cache folder (`cache_dir`, else the default), created if needed; DataError naming it when that fails."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create cache directory {folder}: {e}") from e
    return folder


def digest(key: Any, length: int = 16) -> str:
    """A short stable hash of a JSON-able key (dict keys sorted)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:length]


def read_entry(folder: Path, columns: Columns, count: int | None = None,
               mapped: tuple[str, ...] = ("images",)) -> Entry | None:
    """The entry's arrays (those in `mapped` memory-mapped copy-on-write, the rest loaded) and meta,
    or None when it is missing, truncated, or does not match `columns` (and `count` rows if given)."""
    try:
        meta = json.loads((folder / META).read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c" if name in mapped else None,
                                allow_pickle=False) for name in columns}
    except (OSError, ValueError, EOFError):
        return None
    rows = meta.get("count") if isinstance(meta, dict) else None
    if rows is None or (count is not None and rows != count):
        return None
    for name, (row, dtype) in columns.items():
        if arrays[name].shape != (rows, *row) or arrays[name].dtype != np.dtype(dtype):
            return None
    return arrays, meta


@contextmanager
def build_entry(folder: Path, columns: Columns) -> Iterator[Path]:
    """A temp folder to write the entry into; renamed to `folder` when the block ends normally
    (files forced to disk first). A readable entry a concurrent builder put there first is kept."""
    with atomic_dir(folder, keep=lambda p: read_entry(p, columns) is not None, fsync=True, error=DataError) as tmp:
        yield tmp


def write_meta(folder: Path, count: int, **fields: Any) -> None:
    (folder / META).write_text(json.dumps({"count": count, **fields}))


def create_rows(folder: Path, name: str, count: int, row: tuple[int, ...], dtype: Any) -> np.memmap:
    """A new `<name>.npy` of `count` zeroed rows, memory-mapped for writing."""
    return np.lib.format.open_memmap(folder / f"{name}.npy", "w+", dtype, (count, *row))


def open_rows(folder: Path, name: str) -> np.memmap:
    """An existing `<name>.npy` memory-mapped shared for writing: rows a worker process writes
    here are what the parent (and the renamed entry) sees."""
    return np.load(folder / f"{name}.npy", mmap_mode="r+")
