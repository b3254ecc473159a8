"""Batched geometric augmentation on the training device: rotation and horizontal flip.

Images and keypoints move together through one affine map per sample. Angles follow
torchvision's convention (positive = counter-clockwise on screen, about the image centre).
The augmentation multiplier k is applied by the trainer: an epoch is k passes over the training
set, each image freshly transformed on every pass (k = 1: each image once per epoch, randomly
rotated and flipped; a rotation range of 0 and no flip turns augmentation off).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

__all__ = ["affine_matrices", "apply_affine", "random_affine"]


def affine_matrices(angles_deg: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Forward maps (B, 2, 2) in pixel offsets from the centre (y down): flip first, then rotate."""
    a = angles_deg.float() * (math.pi / 180.0)
    cos, sin = a.cos(), a.sin()
    rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    sx = 1.0 - 2.0 * flips.float()
    flip = torch.diag_embed(torch.stack([sx, torch.ones_like(sx)], -1))
    return rot @ flip


def apply_affine(
    images: torch.Tensor, keypoints: torch.Tensor, vis: torch.Tensor, mats: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Warp (B, C, H, W) float images and (B, K, 2) pixel keypoints by `mats` about the centre.

    Keypoints that leave the image get visibility 0 (they stay in the tensor, never clipped).
    """
    b, _, h, w = images.shape
    centre = _half_size(w, h, images.device)  # also the scale of the normalised coordinates
    mats = mats.to(images.device)
    # grid_sample wants output -> input in normalised coords: S^-1 M^-1 S
    theta = _inverse_2x2(mats) * (centre.view(1, 1, 2) / centre.view(1, 2, 1))
    theta = torch.cat([theta, torch.zeros(b, 2, 1, device=images.device)], -1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    kp = (keypoints - centre) @ mats.transpose(1, 2) + centre
    inside = (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
    return out, kp, torch.where(inside, vis, torch.zeros_like(vis))


def _inverse_2x2(m: torch.Tensor) -> torch.Tensor:
    """The inverses of (B, 2, 2) matrices in closed form: a few elementwise kernels, where
    `torch.linalg.inv` calls a solver library and checks invertibility, which on a GPU makes the host
    wait for it every training step."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    adjugate = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return adjugate / (a * d - b * c)[:, None, None]


@functools.cache
def _half_size(w: int, h: int, device: torch.device) -> torch.Tensor:
    """(w / 2, h / 2) on `device`, made once: a tensor built from host numbers makes the host wait for
    the GPU every time (a synchronising copy), which a training step must not."""
    return torch.tensor([w / 2.0, h / 2.0], device=device)


def random_affine(
    images: torch.Tensor,
    keypoints: torch.Tensor,
    vis: torch.Tensor,
    max_rotation: float,
    flip: bool,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uniform rotation in [-max_rotation, max_rotation] degrees and a fair-coin horizontal flip."""
    b = images.shape[0]
    dev = generator.device if generator is not None else images.device
    angles = (torch.rand(b, generator=generator, device=dev) * 2 - 1) * max_rotation
    flips = (torch.rand(b, generator=generator, device=dev) < 0.5) & flip
    return apply_affine(images, keypoints, vis, affine_matrices(angles, flips))
