"""Training: the recipe, the device, the trainer, evaluation and checkpoints. Names load on first
use, so reading a recipe does not import the model (timm)."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "recipe": ["TrainConfig"],
    "device": ["resolve_device", "resolve_memory_format", "resolve_recipe", "to_memory_format", "memory_format_of"],
    "trainer": ["EpochStats", "TrainResult", "TrainState", "train"],
    "evaluation": ["evaluate", "keypoint_distances", "predict_keypoints", "scaled_metrics"],
    "checkpoint": ["Checkpoint", "load_checkpoint", "load_trained_model", "save_checkpoint"],
    "threads": ["ThreadChoice", "available_cores", "choose_threads", "fixed_threads", "set_threads"],
})
