"""Heatmaps -> keypoints in input pixels, and the one place that picks the decoder for a loss.

A model trained with `mse` outputs heatmaps (decoded by argmax + sub-cell refinement); one trained
with `integral` or `dsnt` outputs logits whose softmax expectation is the keypoint (soft-argmax).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nas.errors import ConfigError
from nas.keypoints.codec import to_input_coords

__all__ = ["DECODERS", "DECODER_OF_LOSS", "decode", "decode_argmax", "decoder_name", "soft_argmax"]

_CONCAVE = -1e-12  # curvature below which the log-parabola has a maximum


def _parabola_offset(lo: torch.Tensor, c: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Sub-cell offset of the vertex of the parabola through (-1, lo), (0, c), (1, hi); where it is
    not concave, MMPose's 0.25-cell step toward the larger neighbour."""
    curv = lo - 2 * c + hi
    parabola = 0.5 * (lo - hi) / curv.where(curv < _CONCAVE, torch.full_like(curv, -1.0))
    quarter = 0.25 * torch.sign(hi - lo)
    return torch.where(curv < _CONCAVE, parabola.clamp(-0.5, 0.5), quarter)


def decode_argmax(heatmaps: torch.Tensor, stride: int) -> torch.Tensor:
    """Argmax, then a parabola through the log-heatmap around it on each axis (exact for a Gaussian).

    Returns (B, K, 2) input pixels.
    """
    b, k, h, w = heatmaps.shape
    hm = heatmaps.detach().float()
    logh = hm.clamp_min(1e-10).log()
    idx = hm.reshape(b, k, -1).argmax(-1)
    y, x = idx // w, idx % w
    padded = F.pad(logh, (1, 1, 1, 1), mode="replicate").reshape(b, k, -1)
    pw = w + 2

    def at(dy: int, dx: int) -> torch.Tensor:
        return padded.gather(-1, ((y + 1 + dy) * pw + (x + 1 + dx)).unsqueeze(-1)).squeeze(-1)

    c = at(0, 0)
    du = _parabola_offset(at(0, -1), c, at(0, 1))
    dv = _parabola_offset(at(-1, 0), c, at(1, 0))
    return to_input_coords(torch.stack([x.float() + du, y.float() + dv], dim=-1), stride)


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


def _soft_argmax_coords(logits: torch.Tensor, stride: int) -> torch.Tensor:
    return soft_argmax(logits, stride)[0]


Decoder = Callable[[torch.Tensor, int], torch.Tensor]

DECODERS: dict[str, Decoder] = {"argmax": decode_argmax, "soft_argmax": _soft_argmax_coords}
# the one choice of decoder per training loss (its name also goes into an exported model's metadata)
DECODER_OF_LOSS: dict[str, str] = {"mse": "argmax", "integral": "soft_argmax", "dsnt": "soft_argmax"}


def decoder_name(loss: str) -> str:
    """The decoder (a key of `DECODERS`) for the maps of a model trained with `loss`."""
    try:
        return DECODER_OF_LOSS[loss]
    except KeyError:
        raise ConfigError(f"loss: {loss!r} has no decoder (one of {', '.join(DECODER_OF_LOSS)})") from None


def decode(heatmaps: torch.Tensor, loss: str, stride: int) -> torch.Tensor:
    """Keypoints (B, K, 2) in input pixels from the maps of a model trained with `loss`."""
    return DECODERS[decoder_name(loss)](heatmaps, stride)
