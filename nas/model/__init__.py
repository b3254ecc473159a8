"""The keypoint model: its config (`ArchConfig`), the backbone registry, the head, the network and
its cost. Names load on first use (`nas.lazy`), so reading a config does not import timm (about 2 s)."""
from __future__ import annotations

from nas.lazy import exports

__all__, __getattr__, __dir__ = exports(__name__, {
    "arch": ["ArchConfig", "backbone_names"],
    "backbones": ["BACKBONES", "Backbone", "build_backbone", "register_backbone"],
    "head": ["HEAD_BASE_CHANNELS", "build_head"],
    "network": ["HEATMAP_STRIDE", "KeypointNet", "build_model"],
    "cost": ["Cost", "count_cost", "model_cost", "param_count", "score", "score_of"],
})
