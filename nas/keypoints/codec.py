"""The heatmap codec: where a heatmap cell sits in input pixels, and Gaussian targets.

Coordinates are continuous input pixels: pixel column j covers [j, j+1), its centre is j + 0.5.
Heatmap cell u (stride s) is centred on input x = (u + 0.5) * s, so u = x / s - 0.5.
"""
from __future__ import annotations

import torch

__all__ = ["encode", "to_heatmap_coords", "to_input_coords"]


def to_heatmap_coords(xy: torch.Tensor, stride: int) -> torch.Tensor:
    return xy / stride - 0.5


def to_input_coords(uv: torch.Tensor, stride: int) -> torch.Tensor:
    return (uv + 0.5) * stride


def encode(xy: torch.Tensor, size: tuple[int, int], stride: int, sigma: float = 2.0) -> torch.Tensor:
    """Unnormalised Gaussians (peak 1) centred at the exact sub-pixel keypoint position, so the
    target carries no quantisation error.

    Args:
        xy: (B, K, 2) keypoints in input pixels.
        size: heatmap (height, width).
        sigma: in heatmap cells.
    Returns:
        (B, K, h, w) float targets.
    """
    h, w = size
    uv = to_heatmap_coords(xy.float(), stride)
    us = torch.arange(w, device=xy.device, dtype=torch.float32)
    vs = torch.arange(h, device=xy.device, dtype=torch.float32)
    gx = torch.exp(-((us.view(1, 1, w) - uv[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((vs.view(1, 1, h) - uv[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, K, h)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)
