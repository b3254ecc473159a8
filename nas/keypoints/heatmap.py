"""Heatmap codec and the coordinate losses that read heatmaps.

Coordinates are continuous input pixels: pixel column j covers [j, j+1), its centre is j + 0.5.
Heatmap cell u (stride s) is centred on input x = (u + 0.5) * s, so u = x / s - 0.5.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "encode",
    "decode_argmax",
    "soft_argmax",
    "to_heatmap_coords",
    "to_input_coords",
    "LOSSES",
    "heatmap_loss",
]

LOSSES = ("mse", "integral", "dsnt")


def to_heatmap_coords(xy: torch.Tensor, stride: int) -> torch.Tensor:
    return xy / stride - 0.5


def to_input_coords(uv: torch.Tensor, stride: int) -> torch.Tensor:
    return (uv + 0.5) * stride


def encode(xy: torch.Tensor, size: tuple[int, int], stride: int, sigma: float = 2.0) -> torch.Tensor:
    """Unnormalised Gaussians (peak 1) centred at the exact sub-pixel keypoint position.

    Args:
        xy: (B, K, 2) keypoints in input pixels.
        size: heatmap (height, width).
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


def decode_argmax(heatmaps: torch.Tensor, stride: int, logits: bool = False) -> torch.Tensor:
    """Argmax, then a parabola through the log-heatmap around it on each axis (exact for a Gaussian).

    Falls back to MMPose's 0.25-cell step toward the larger neighbour where the log-parabola is
    not concave. `logits=True` means the maps are log-probabilities up to a constant (softmax input).
    Returns (B, K, 2) input pixels.
    """
    b, k, h, w = heatmaps.shape
    hm = heatmaps.detach().float()
    logh = hm if logits else hm.clamp_min(1e-10).log()
    idx = hm.reshape(b, k, -1).argmax(-1)
    y, x = idx // w, idx % w
    padded = F.pad(logh, (1, 1, 1, 1), mode="replicate").reshape(b, k, -1)
    pw = w + 2

    def at(dy: int, dx: int) -> torch.Tensor:
        return padded.gather(-1, ((y + 1 + dy) * pw + (x + 1 + dx)).unsqueeze(-1)).squeeze(-1)

    c = at(0, 0)
    offsets = []
    for lo, hi in ((at(0, -1), at(0, 1)), (at(-1, 0), at(1, 0))):
        curv = lo - 2 * c + hi
        parabola = 0.5 * (lo - hi) / curv.where(curv < -1e-12, torch.full_like(curv, -1.0))
        quarter = 0.25 * torch.sign(hi - lo)
        offsets.append(torch.where(curv < -1e-12, parabola.clamp(-0.5, 0.5), quarter))
    uv = torch.stack([x.float() + offsets[0], y.float() + offsets[1]], dim=-1)
    return to_input_coords(uv, stride)


def soft_argmax(logits: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected position under softmax(logits) per map (differentiable, DSNT/integral regression).

    Returns (coords (B, K, 2) input pixels, probabilities (B, K, h, w)).
    """
    b, k, h, w = logits.shape
    prob = logits.float().reshape(b, k, -1).softmax(-1).reshape(b, k, h, w)
    us = torch.arange(w, device=logits.device, dtype=prob.dtype)
    vs = torch.arange(h, device=logits.device, dtype=prob.dtype)
    u = (prob.sum(2) * us).sum(-1)
    v = (prob.sum(3) * vs).sum(-1)
    return to_input_coords(torch.stack([u, v], -1), stride), prob


def heatmap_loss(
    kind: str, out: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int, sigma: float
) -> torch.Tensor:
    """Training loss for one batch.

    - mse: the seed's heatmap MSE against Gaussian targets (maps are heatmaps).
    - integral: L1 between soft-argmax and target coordinates, in heatmap cells (maps are logits).
    - dsnt: integral + cross-entropy of softmax(maps) against the normalised Gaussian target,
      which keeps each map unimodal (Nibali et al. 2018's regulariser, CE form).
    `weight` (B, K) masks keypoints outside the image.
    """
    h, w = out.shape[-2:]
    wsum = weight.sum().clamp_min(1.0)
    if kind == "mse":
        target = encode(xy, (h, w), stride, sigma)
        per_kp = ((out.float() - target) ** 2).mean((-1, -2))
        return (per_kp * weight).sum() / wsum
    pred, prob = soft_argmax(out, stride)
    l1 = ((pred - xy).abs().sum(-1) / stride * weight).sum() / wsum
    if kind == "integral":
        return l1
    if kind == "dsnt":
        target = encode(xy, (h, w), stride, sigma)
        target = target / target.sum((-1, -2), keepdim=True).clamp_min(1e-8)
        ce = -(target * prob.clamp_min(1e-12).log()).sum((-1, -2))
        return l1 + (ce * weight).sum() / wsum
    raise ValueError(f"unknown loss {kind!r}; expected one of {', '.join(LOSSES)}")
