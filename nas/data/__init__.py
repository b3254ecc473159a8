"""Datasets: the in-memory `KeypointDataset`, what a run trains on (`DataSpec`) and the parts a run
loads (`nas.data.parts`). Names load on first use (`nas.lazy`), so reading a `DataSpec` (a search
space, a CLI option) does not import torch."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "spec": ["DataSpec", "SYNTHETIC"],
    "dataset": ["KeypointDataset", "NUM_KEYPOINTS"],
    "parts": ["load_synthetic", "load_parts", "load_for_space", "load_splits"],
})
