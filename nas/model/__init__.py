"""The keypoint model: its config (`ArchConfig`), the backbone registry, the head, the network and
its cost. Names load on first use, so reading a config does not import timm (about 2 s)."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ArchConfig", "BACKBONES", "Backbone", "backbone_names", "HEAD_BASE_CHANNELS", "HEATMAP_STRIDE", "Cost",
    "KeypointNet",
    "build_backbone", "build_head", "build_model", "count_cost", "model_cost", "param_count", "register_backbone",
    "score", "score_of",
]

_HOME = {
    "ArchConfig": "arch", "backbone_names": "arch",
    "BACKBONES": "backbones", "Backbone": "backbones", "build_backbone": "backbones", "register_backbone": "backbones",
    "HEAD_BASE_CHANNELS": "head", "build_head": "head",
    "HEATMAP_STRIDE": "network", "KeypointNet": "network", "build_model": "network",
    "Cost": "cost", "count_cost": "cost", "model_cost": "cost", "param_count": "cost", "score": "cost",
    "score_of": "cost",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
