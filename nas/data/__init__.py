"""Datasets: the in-memory `KeypointDataset` and the sources that produce it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from nas.data.dataset import NUM_KEYPOINTS, KeypointDataset

if TYPE_CHECKING:
    from nas.data.synth import SynthConfig

__all__ = ["KeypointDataset", "NUM_KEYPOINTS", "SYNTHETIC", "load_synthetic", "load_for_space", "load_splits"]


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


def load_for_space(
    source: str,
    train_images: int,
    val_images: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    synth: SynthConfig | None = None,
) -> tuple[KeypointDataset, KeypointDataset]:
    """(train, validation) sets for a search at `size` pixels from `source`.

    `progress(n)` gets the number of images ready so far over both sets.
    """
    from nas.errors import ConfigError

    if source != SYNTHETIC:
        raise ConfigError(
            f"data: {source!r}: only the built-in 'synthetic' set can be loaded so far "
            "(dataset formats are the next milestone)"
        )
    train = load_synthetic(train_images, size, seed, cache_dir, progress, synth)
    val_progress = None if progress is None else (lambda n: progress(train_images + n))
    val = load_synthetic(val_images, size, seed + _VAL_SEED_OFFSET, cache_dir, val_progress, synth)
    return train, val


_TEST_SEED_OFFSET = 2_000_029  # test images: a third disjoint stream


def load_splits(
    source: str,
    train_images: int,
    val_images: int,
    test_images: int,
    size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[KeypointDataset, KeypointDataset, KeypointDataset]:
    """Deterministic, disjoint (train, validation, test) sets for a full training at `size` pixels.

    Train and validation are the same images `load_for_space` gives for this seed; test comes from
    a third stream. `progress(n)` gets the number of images ready so far over all three sets.
    """
    train, val = load_for_space(source, train_images, val_images, size, seed, cache_dir, progress)
    done = train_images + val_images
    test_progress = None if progress is None else (lambda n: progress(done + n))
    test = load_synthetic(test_images, size, seed + _TEST_SEED_OFFSET, cache_dir, test_progress)
    return train, val, test
