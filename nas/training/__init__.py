"""Training: the recipe, the device, the trainer, evaluation and checkpoints. Names load on first
use, so reading a recipe does not import the model (timm)."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Checkpoint", "EpochStats", "TrainConfig", "TrainResult", "TrainState", "evaluate", "keypoint_distances",
    "load_checkpoint", "load_trained_model", "memory_format_of", "predict_keypoints", "resolve_device",
    "resolve_memory_format", "resolve_recipe", "save_checkpoint", "scaled_metrics", "to_memory_format", "train",
    "ThreadChoice", "available_cores", "choose_threads", "fixed_threads", "set_threads",
]

_HOME = {
    "TrainConfig": "recipe", "resolve_device": "device", "resolve_memory_format": "device",
    "resolve_recipe": "device", "to_memory_format": "device", "memory_format_of": "device",
    "EpochStats": "trainer", "TrainResult": "trainer", "TrainState": "trainer", "train": "trainer",
    "evaluate": "evaluation", "keypoint_distances": "evaluation", "predict_keypoints": "evaluation",
    "scaled_metrics": "evaluation",
    "Checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "load_trained_model": "checkpoint",
    "save_checkpoint": "checkpoint",
    "ThreadChoice": "threads", "available_cores": "threads", "choose_threads": "threads",
    "fixed_threads": "threads", "set_threads": "threads",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
