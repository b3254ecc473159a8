"""The shared array cache (nas.data.cache, nas.io.atomic_dir) and process-pool helper (nas.data.parallel)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nas.data.cache import build_entry, create_rows, read_entry, write_meta
from nas.data.parallel import Chunk, chunks, run_chunks
from nas.errors import DataError
from nas.io import atomic_dir

COLUMNS = {"values": ((3,), np.int64)}


def _write(folder: Path, values: np.ndarray) -> None:
    create_rows(folder, "values", len(values), (3,), np.int64)[:] = values
    write_meta(folder, len(values))


def test_entry_round_trip_and_checks(tmp_path):
    folder = tmp_path / "entry"
    with build_entry(folder, COLUMNS) as tmp:
        _write(tmp, np.arange(12).reshape(4, 3))
    arrays, meta = read_entry(folder, COLUMNS)
    assert np.array_equal(arrays["values"], np.arange(12).reshape(4, 3)) and meta == {"count": 4}
    assert read_entry(folder, COLUMNS, count=4) is not None
    assert read_entry(folder, COLUMNS, count=5) is None  # another row count
    assert read_entry(folder, {"values": ((3,), np.float32)}) is None  # another dtype
    assert read_entry(folder, {"values": ((4,), np.int64)}) is None  # another row shape
    assert read_entry(tmp_path / "missing", COLUMNS) is None
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_a_failed_build_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with build_entry(tmp_path / "entry", COLUMNS) as tmp:
            _write(tmp, np.zeros((2, 3), np.int64))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_a_readable_entry_finished_first_is_kept_a_damaged_one_replaced(tmp_path):
    folder = tmp_path / "entry"
    with build_entry(folder, COLUMNS) as tmp:
        with build_entry(folder, COLUMNS) as other:  # a concurrent builder that finishes first
            _write(other, np.ones((2, 3), np.int64))
        _write(tmp, np.zeros((2, 3), np.int64))
    assert read_entry(folder, COLUMNS)[0]["values"].sum() == 6  # theirs
    (folder / "meta.json").write_text("{")
    with build_entry(folder, COLUMNS) as tmp:
        _write(tmp, np.zeros((2, 3), np.int64))
    assert read_entry(folder, COLUMNS)[0]["values"].sum() == 0  # ours replaced the damaged one
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_atomic_dir_unwritable_parent_raises_the_given_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="file"):
        with atomic_dir(blocker / "entry", error=DataError):
            pass


def _square_rows(chunk: Chunk[int]) -> tuple[int, list[int]]:
    if chunk.payload < 0:
        raise DataError(f"bad chunk at {chunk.start}")
    return os.getpid(), [i * i for i in range(chunk.start, chunk.stop)]


@pytest.mark.parametrize("workers", [1, 3])
def test_run_chunks_results_and_progress(workers):
    out = [None] * 25
    seen: list[int] = []
    pids = set()

    def store(chunk: Chunk[int], result) -> None:
        pids.add(result[0])
        out[chunk.start:chunk.stop] = result[1]

    jobs = chunks(25, 4, lambda start, stop: stop - start)
    assert [len(c) for c in jobs] == [4, 4, 4, 4, 4, 4, 1]
    run_chunks(_square_rows, jobs, workers, store, seen.append)
    assert out == [i * i for i in range(25)]
    assert seen == sorted(seen) and seen[-1] == 25 and len(seen) == len(jobs)
    assert (os.getpid() in pids) == (workers == 1)


def test_run_chunks_a_worker_error_reaches_the_caller():
    jobs = chunks(12, 4, lambda start, stop: -1 if start == 4 else 1)
    with pytest.raises(DataError, match="bad chunk at 4"):
        run_chunks(_square_rows, jobs, 2)
