"""The images a run uses: deterministic, disjoint train / validation / test parts of a `DataSpec`,
from the built-in synthetic hands (one seed stream per part) or a dataset's own split."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nas.data.spec import DataSpec

if TYPE_CHECKING:
    from nas.data.dataset import KeypointDataset
    from nas.data.synth import SynthConfig

__all__ = ["load_synthetic", "load_parts", "load_for_space", "load_splits"]


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
    from nas.data.synthetic import synthetic_dataset

    images, keypoints, visibility = synthetic_dataset(count, size, seed, cache_dir=cache_dir, progress=progress,
                                                      config=config)
    from nas.data.dataset import KeypointDataset

    return KeypointDataset.from_numpy(images, keypoints, visibility)


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


def _dataset_parts(data: DataSpec, counts: dict[str, int], size: int, cache_dir, progress: Progress | None,
                   on_format) -> dict[str, KeypointDataset]:
    """Seeded subsets of the dataset's deterministic train/val/test split (all of a part when it is smaller)."""
    import numpy as np
    import torch

    from nas.data.loader import load_dataset, split_indices

    loaded = load_dataset(data.source, data.format, size, cache_dir, data.max_bad, progress=progress,
                          on_format=on_format)
    idx = split_indices(loaded.splits, data.seed)
    rng = np.random.default_rng(data.seed)
    parts = {}
    for name, count in counts.items():
        chosen = np.sort(rng.permutation(idx[name])[:count])
        parts[name] = loaded.data.subset(torch.from_numpy(chosen))
    return parts


def load_parts(
    data: DataSpec,
    counts: dict[str, int],
    size: int,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    synth: SynthConfig | None = None,
    on_format: Callable[[str, int], None] | None = None,
) -> dict[str, KeypointDataset]:
    """Deterministic, disjoint parts ('train', 'val', 'test' -> image count) at `size` pixels.

    `data.source` is 'synthetic' (the built-in renderer: one seed stream per part) or a dataset path
    (`data.format` auto|csv|freihand|coco|panoptic; its own split where it defines one, else a seeded
    80/10/10 split; a part smaller than asked is used whole).
    """
    if data.synthetic:
        return _synthetic_parts(counts, size, data.seed, cache_dir, progress, synth)
    return _dataset_parts(data, counts, size, cache_dir, progress, on_format)


def load_for_space(
    data: DataSpec,
    train_images: int,
    val_images: int,
    size: int,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    synth: SynthConfig | None = None,
    on_format: Callable[[str, int], None] | None = None,
) -> tuple[KeypointDataset, KeypointDataset]:
    """(train, validation) sets for a search at `size` pixels (see `load_parts`); the counts are the
    proxy budget's, not `data`'s full-training ones."""
    parts = load_parts(data, {"train": train_images, "val": val_images}, size, cache_dir, progress, synth, on_format)
    return parts["train"], parts["val"]


def load_splits(
    data: DataSpec,
    size: int,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    on_format: Callable[[str, int], None] | None = None,
) -> tuple[KeypointDataset, KeypointDataset, KeypointDataset]:
    """(train, validation, test) of `data`'s counts for a full training; train and validation are the
    images `load_for_space` gives for the same data and counts."""
    counts = {"train": data.train_images, "val": data.val_images, "test": data.test_images}
    parts = load_parts(data, counts, size, cache_dir, progress, on_format=on_format)
    return parts["train"], parts["val"], parts["test"]
