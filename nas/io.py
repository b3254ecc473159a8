"""Atomic file writes: write a temp file (or folder) beside the target, then rename it into place."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nas.errors import NasError

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "atomic_dir", "atomic_path"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes, fsync: bool = False) -> Path:
    """Write `data` to a temp file beside `path`, then rename it over `path` (fsync first if asked)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise NasError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp file path beside `path` for a writer that wants a file name (torch.save, a download);
    renamed over `path` when the block ends, removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@contextmanager
def atomic_dir(path: str | Path, keep: Callable[[Path], bool] = lambda _: False, fsync: bool = False,
               error: type[NasError] = NasError) -> Iterator[Path]:
    """A new temp folder beside `path` to fill in the `with` block; renamed to `path` when the block
    ends normally, removed when it raises, so `path` never names a half-written folder.

    An existing `path` for which `keep(path)` is true wins (a concurrent writer finished first) and
    the new folder is dropped; any other existing `path` (e.g. a damaged one) is replaced. `fsync`
    forces every file to disk before the rename. Failures to create or rename raise `error`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    except OSError as exc:
        raise error(f"{path.parent}: cannot write ({exc.strerror or exc})") from None
    try:
        yield tmp
        if fsync:
            _fsync_files(tmp)
        _publish(tmp, path, keep)
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless the block failed or lost the race


def _fsync_files(folder: Path) -> None:
    for file in folder.iterdir():
        if not file.is_file():
            continue
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())


def _publish(tmp: Path, path: Path, keep: Callable[[Path], bool]) -> None:
    """Rename `tmp` to `path`; an existing `path` is kept when `keep` says so, else moved aside and deleted."""
    try:
        os.rename(tmp, path)  # fails when `path` exists and is not an empty folder
        return
    except OSError:
        if not path.exists():
            raise
    if keep(path):
        return
    stale = Path(tempfile.mkdtemp(prefix=f".{path.name}.stale.", dir=path.parent))
    os.replace(path, stale / path.name)
    shutil.rmtree(stale, ignore_errors=True)
    os.rename(tmp, path)
