"""Keypoint metrics as MMPose computes them (`mmpose.evaluation.functional.keypoint_eval`).

- EPE (`keypoint_epe`): mean distance over all labelled keypoints (a micro mean).
- PCK (`keypoint_pck_accuracy`): per keypoint, the fraction of its labelled samples closer than the
  threshold (strict `<`); then the mean over the keypoints that have any labelled sample (a macro
  mean, so a rarely labelled keypoint weighs as much as a common one).
- AUC (`keypoint_auc`, norm 30 px, 20 steps): the mean of that PCK over the absolute thresholds
  i/20 x 30 px for i = 0..19, i.e. 0, 1.5, ..., 28.5 px.

One difference: the PCK threshold is 0.2 x the side of each sample's keypoint box (the larger of
the width and height spanned by its labelled keypoints, at least 1 px), where MMPose uses the
annotated bounding box; our datasets carry keypoints only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AUC_MAX_PX", "AUC_STEPS", "PCK_RATIO", "KeypointMetrics", "keypoint_errors", "mean_pose_error", "pck",
           "summarise"]

AUC_MAX_PX = 30.0
AUC_STEPS = 20
PCK_RATIO = 0.2


@dataclass(frozen=True)
class KeypointMetrics:
    px_error: float  # mean Euclidean distance (EPE) over labelled keypoints, input pixels
    pck: float  # per-keypoint fraction within 0.2 x box side, averaged over keypoints
    auc: float  # mean PCK over the 20 absolute thresholds 0, 1.5, ..., 28.5 px
    count: int  # labelled keypoints measured


def keypoint_errors(pred: torch.Tensor, true: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-keypoint distances (B, K) and per-sample PCK threshold (B,) = 0.2 x keypoint box side."""
    dist = (pred.float() - true.float()).norm(dim=-1)
    mask = vis > 0
    big = torch.tensor(float("inf"), device=true.device)
    lo = torch.where(mask.unsqueeze(-1), true, big).amin(1)
    hi = torch.where(mask.unsqueeze(-1), true, -big).amax(1)
    side = (hi - lo).amax(-1).clamp_min(1.0)
    return dist, PCK_RATIO * side


def pck(dist: torch.Tensor, thr: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MMPose's PCK: per keypoint, hits (dist < thr) over its labelled samples, averaged over the
    keypoints with any. `thr` broadcasts against (N, K) dist; a leading threshold axis gives one
    PCK per threshold (NaN when nothing is labelled)."""
    hits = ((dist < thr) & mask).sum(-2).float()  # (..., K)
    labelled = mask.sum(-2)  # (K,)
    per_kp = hits[..., labelled > 0] / labelled[labelled > 0]
    return per_kp.mean(-1)


def summarise(dist: torch.Tensor, norm: torch.Tensor, vis: torch.Tensor) -> KeypointMetrics:
    """Aggregate (N, K) distances and (N,) PCK thresholds from `keypoint_errors` (possibly
    concatenated over batches); all NaN when nothing is labelled."""
    mask = vis > 0
    d = dist[mask]
    if d.numel() == 0:
        return KeypointMetrics(float("nan"), float("nan"), float("nan"), 0)
    thr_px = torch.arange(AUC_STEPS, device=dist.device) * (AUC_MAX_PX / AUC_STEPS)  # 0, 1.5, ..., 28.5
    auc = pck(dist, thr_px.view(-1, 1, 1), mask).mean().item()
    return KeypointMetrics(d.mean().item(), pck(dist, norm.unsqueeze(-1), mask).item(), auc, int(d.numel()))


def mean_pose_error(train_kp: torch.Tensor, train_vis: torch.Tensor, val_kp: torch.Tensor,
                    val_vis: torch.Tensor) -> float:
    """The EPE (input pixels) of predicting, for every validation image, the mean position of each
    keypoint over the training images where it is labelled: what a model that ignores its input
    scores. A proxy error above it means the proxy learned nothing the mean pose does not know."""
    mask = (train_vis > 0).unsqueeze(-1).float()
    mean = (train_kp.float() * mask).sum(0) / mask.sum(0).clamp_min(1.0)
    dist = (val_kp.float() - mean).norm(dim=-1)
    labelled = val_vis > 0
    return float(dist[labelled].mean()) if labelled.any() else float("nan")
