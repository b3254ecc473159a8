"""Datasets: the in-memory `KeypointDataset` and the sources that produce it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from nas.data.dataset import NUM_KEYPOINTS, KeypointDataset

__all__ = ["KeypointDataset", "NUM_KEYPOINTS", "load_synthetic"]


def load_synthetic(
    count: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> KeypointDataset:
    """The built-in procedurally rendered hand set (cached on disk), as a KeypointDataset."""
    from nas.data.synth import synthetic_dataset

    images, keypoints, visibility = synthetic_dataset(count, size, seed, cache_dir=cache_dir, progress=progress)
    return KeypointDataset.from_numpy(images, keypoints, visibility)
