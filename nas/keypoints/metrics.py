"""Keypoint metrics (MMPose conventions): EPE, PCK@0.2 of the keypoint box, AUC over 0-30 px."""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KeypointMetrics", "keypoint_errors", "summarise"]

AUC_MAX_PX = 30.0
AUC_STEPS = 20


@dataclass(frozen=True)
class KeypointMetrics:
    px_error: float  # mean Euclidean distance (EPE) over labelled keypoints, input pixels
    pck: float  # fraction within 0.2 x max(box w, h) of the labelled keypoints
    auc: float  # mean PCK over 20 absolute thresholds in [0, 30] px
    count: int  # labelled keypoints measured


def keypoint_errors(pred: torch.Tensor, true: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-keypoint distances (B, K) and per-sample PCK normaliser (B,) = 0.2 x box side."""
    dist = (pred.float() - true.float()).norm(dim=-1)
    mask = vis > 0
    big = torch.tensor(float("inf"), device=true.device)
    lo = torch.where(mask.unsqueeze(-1), true, big).amin(1)
    hi = torch.where(mask.unsqueeze(-1), true, -big).amax(1)
    side = (hi - lo).amax(-1).clamp_min(1.0)
    return dist, 0.2 * side


def summarise(dist: torch.Tensor, norm: torch.Tensor, vis: torch.Tensor) -> KeypointMetrics:
    """Aggregate distances from `keypoint_errors` (possibly concatenated over batches)."""
    mask = vis > 0
    d = dist[mask]
    if d.numel() == 0:
        return KeypointMetrics(float("nan"), float("nan"), float("nan"), 0)
    pck = (dist <= norm.unsqueeze(-1))[mask].float().mean().item()
    thr = torch.linspace(0, AUC_MAX_PX, AUC_STEPS, device=d.device)
    auc = (d.unsqueeze(0) <= thr.unsqueeze(1)).float().mean().item()
    return KeypointMetrics(d.mean().item(), pck, auc, int(d.numel()))
