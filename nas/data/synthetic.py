"""The built-in synthetic hand set: rendered once (in worker processes) into the shared array
cache, then read from it, memory-mapped."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from nas.data.cache import build_entry, cache_root, create_rows, digest, open_rows, read_entry, write_meta
from nas.data.parallel import Chunk, chunks, run_chunks
from nas.data.synth import MAX_SIZE, MIN_SIZE, NUM_KEYPOINTS, RENDER_VERSION, SynthConfig, check_int, render_batch
from nas.errors import DataError

__all__ = ["synthetic_dataset"]

_CHUNK = 256
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _columns(size: int) -> dict[str, tuple[tuple[int, ...], type]]:
    return {"images": ((3, size, size), np.uint8), "keypoints": ((NUM_KEYPOINTS, 2), np.float32),
            "visibility": ((NUM_KEYPOINTS,), np.uint8)}


def _entry_path(root: Path, count: int, size: int, seed: int, cfg: SynthConfig) -> Path:
    key = {"count": count, "size": size, "seed": seed, "version": RENDER_VERSION,
           "config": asdict(replace(cfg, size=size))}
    return root / f"synth-{size}px-n{count}-s{seed}-{digest(key)}"


def _read(path: Path, count: int, size: int) -> Arrays | None:
    """The cached arrays, or None when the entry is missing, truncated or malformed."""
    entry = read_entry(path, _columns(size), count)
    if entry is None:
        return None
    arrays = entry[0]
    return arrays["images"], arrays["keypoints"], arrays["visibility"]


def _render_chunk(chunk: Chunk[tuple[Path, int, int, SynthConfig]]) -> None:
    """Worker entry point: render the chunk's images straight into the entry's shared arrays."""
    folder, size, seed, cfg = chunk.payload
    parts = render_batch(len(chunk), size, seed, start=chunk.start, config=cfg)
    for name, part in zip(_columns(size), parts):
        rows = open_rows(folder, name)
        rows[chunk.start:chunk.stop] = part
        rows.flush()


def _render_all(folder: Path, count: int, size: int, seed: int, cfg: SynthConfig, workers: int,
                progress: Callable[[int], None] | None) -> None:
    """Fill a new entry folder; the same arrays for any number of workers."""
    for name, (row, dtype) in _columns(size).items():
        create_rows(folder, name, count, row, dtype).flush()
    jobs = chunks(count, _CHUNK, lambda start, stop: (folder, size, seed, cfg))
    run_chunks(_render_chunk, jobs, workers, progress=progress)
    write_meta(folder, count, size=size, seed=seed, render_version=RENDER_VERSION)


def synthetic_dataset(count: int, size: int, seed: int = 0, cache_dir: str | os.PathLike | None = None,
                      workers: int | None = None, progress: Callable[[int], None] | None = None,
                      config: SynthConfig | None = None) -> Arrays:
    """Images 0..count-1 of `seed`, the same arrays as render_batch(count, size, seed), cached in
    `<cache_dir>/synth-...` keyed by (count, size, seed, config, RENDER_VERSION); images memory-mapped.

    workers: processes for rendering (default os.cpu_count(); 1 renders in-process).
    progress: called with the number of images finished so far (once with `count` on a hit).
    """
    count, size = check_int("count", count, 1), check_int("size", size, MIN_SIZE, MAX_SIZE)
    seed = check_int("seed", seed, 0)
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, 1)
    cfg = config or SynthConfig()
    path = _entry_path(cache_root(cache_dir), count, size, seed, cfg)
    cached = _read(path, count, size)
    if cached is not None:
        if progress is not None:
            progress(count)
        return cached
    with build_entry(path, _columns(size)) as tmp:
        _render_all(tmp, count, size, seed, cfg, workers, progress)
    cached = _read(path, count, size)
    if cached is None:
        raise DataError(f"{path}: the cache just written cannot be read back")
    return cached
