"""Training losses on the model's output maps, by name (`LOSSES`, the recipe's `loss` field).

Each takes (maps (B, K, h, w), keypoints (B, K, 2) input pixels, weight (B, K), stride, sigma) and
returns the batch loss; `weight` masks keypoints outside the image, and every loss is a weighted
mean over the keypoints, so a batch with fewer visible points is not down-weighted.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from nas.errors import ConfigError
from nas.keypoints.codec import encode
from nas.keypoints.decoding import soft_argmax

__all__ = ["LOSSES", "Loss", "dsnt_loss", "heatmap_loss", "integral_loss", "mse_loss"]

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int, float], torch.Tensor]


def _weighted_mean(per_kp: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (per_kp * weight).sum() / weight.sum().clamp_min(1.0)


def mse_loss(out: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int, sigma: float) -> torch.Tensor:
    """The seed's heatmap MSE against Gaussian targets (the maps are heatmaps)."""
    target = encode(xy, out.shape[-2:], stride, sigma)
    return _weighted_mean(((out.float() - target) ** 2).mean((-1, -2)), weight)


def _coordinate_l1(pred: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """L1 between predicted and true coordinates, in heatmap cells."""
    return _weighted_mean((pred - xy).abs().sum(-1) / stride, weight)


def integral_loss(out: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int, sigma: float
                  ) -> torch.Tensor:
    """Integral regression: L1 of the soft-argmax (the maps are logits); `sigma` is unused."""
    return _coordinate_l1(soft_argmax(out, stride)[0], xy, weight, stride)


def dsnt_loss(out: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int, sigma: float) -> torch.Tensor:
    """Integral + cross-entropy of softmax(maps) against the normalised Gaussian target, which keeps
    each map unimodal (Nibali et al. 2018's regulariser, in cross-entropy form)."""
    pred, prob = soft_argmax(out, stride)
    target = encode(xy, out.shape[-2:], stride, sigma)
    target = target / target.sum((-1, -2), keepdim=True).clamp_min(1e-8)
    ce = -(target * prob.clamp_min(1e-12).log()).sum((-1, -2))
    return _coordinate_l1(pred, xy, weight, stride) + _weighted_mean(ce, weight)


LOSSES: dict[str, Loss] = {"mse": mse_loss, "integral": integral_loss, "dsnt": dsnt_loss}


def heatmap_loss(
    kind: str, out: torch.Tensor, xy: torch.Tensor, weight: torch.Tensor, stride: int, sigma: float
) -> torch.Tensor:
    """The loss named `kind` (a key of `LOSSES`) for one batch."""
    try:
        loss = LOSSES[kind]
    except KeyError:
        raise ConfigError(f"loss: {kind!r} is not one of {', '.join(LOSSES)}") from None
    return loss(out, xy, weight, stride, sigma)
