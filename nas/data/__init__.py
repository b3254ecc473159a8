"""Datasets: the in-memory `KeypointDataset` and the sources that produce it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from nas.data.dataset import NUM_KEYPOINTS, KeypointDataset

if TYPE_CHECKING:
    from nas.data.synth import SynthConfig

__all__ = [
    "KeypointDataset", "NUM_KEYPOINTS", "SYNTHETIC", "load_synthetic", "load_parts", "load_for_space", "load_splits",
]


def load_synthetic(
    count: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    config: SynthConfig | None = None,
) -> KeypointDataset:
    """The built-in procedurally rendered hand set (cached on disk), as a KeypointDataset.
    `config` changes the renderer's distribution (default: `SynthConfig()`)."""
    from nas.data.synth import synthetic_dataset

    images, keypoints, visibility = synthetic_dataset(count, size, seed, cache_dir=cache_dir, progress=progress,
                                                      config=config)
    return KeypointDataset.from_numpy(images, keypoints, visibility)


SYNTHETIC = "synthetic"
_VAL_SEED_OFFSET = 1_000_003  # validation images come from a disjoint seed stream
_TEST_SEED_OFFSET = 2_000_029  # test images: a third disjoint stream

Progress = Callable[[int, int], None]  # (done, total)


def _synthetic_parts(counts: dict[str, int], size: int, seed: int, cache_dir, progress: Progress | None,
                     synth: SynthConfig | None) -> dict[str, KeypointDataset]:
    offsets = {"train": 0, "val": _VAL_SEED_OFFSET, "test": _TEST_SEED_OFFSET}
    total, done, parts = sum(counts.values()), 0, {}
    for name, count in counts.items():
        cb = None if progress is None else (lambda n, base=done: progress(base + n, total))
        parts[name] = load_synthetic(count, size, seed + offsets[name], cache_dir, cb, synth)
        done += count
    return parts


def _dataset_parts(source: str, counts: dict[str, int], size: int, seed: int, cache_dir, progress: Progress | None,
                   fmt: str, max_bad: float, on_format) -> dict[str, KeypointDataset]:
    """Seeded subsets of the dataset's deterministic train/val/test split (all of a part when it is smaller)."""
    import numpy as np

    from nas.data.loader import load_dataset, split_indices

    loaded = load_dataset(source, fmt, size, cache_dir, max_bad, progress=progress, on_format=on_format)
    idx = split_indices(loaded.splits, seed)
    rng = np.random.default_rng(seed)
    parts = {}
    for name, count in counts.items():
        chosen = np.sort(rng.permutation(idx[name])[:count])
        parts[name] = loaded.data.subset(torch.from_numpy(chosen))
    return parts


def load_parts(
    source: str,
    counts: dict[str, int],
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    synth: SynthConfig | None = None,
    fmt: str = "auto",
    max_bad: float = 0.01,
    on_format: Callable[[str, int], None] | None = None,
) -> dict[str, KeypointDataset]:
    """Deterministic, disjoint parts ('train', 'val', 'test' -> image count) at `size` pixels.

    `source` is 'synthetic' (the built-in renderer: one seed stream per part) or a dataset path
    (`fmt` auto|csv|freihand|coco|panoptic; its own split where it defines one, else a seeded
    80/10/10 split; a part smaller than asked is used whole).
    """
    if source == SYNTHETIC:
        return _synthetic_parts(counts, size, seed, cache_dir, progress, synth)
    return _dataset_parts(source, counts, size, seed, cache_dir, progress, fmt, max_bad, on_format)


def load_for_space(
    source: str,
    train_images: int,
    val_images: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    synth: SynthConfig | None = None,
    **kwargs,
) -> tuple[KeypointDataset, KeypointDataset]:
    """(train, validation) sets for a search at `size` pixels from `source` (see `load_parts`)."""
    parts = load_parts(source, {"train": train_images, "val": val_images}, size, seed, cache_dir, progress, synth,
                       **kwargs)
    return parts["train"], parts["val"]


def load_splits(
    source: str,
    train_images: int,
    val_images: int,
    test_images: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    **kwargs,
) -> tuple[KeypointDataset, KeypointDataset, KeypointDataset]:
    """(train, validation, test) for a full training; train and validation are the images
    `load_for_space` gives for the same seed and counts."""
    parts = load_parts(source, {"train": train_images, "val": val_images, "test": test_images}, size, seed,
                       cache_dir, progress, **kwargs)
    return parts["train"], parts["val"], parts["test"]
