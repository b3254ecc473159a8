"""The in-memory dataset every loader produces: three aligned tensors."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.errors import DataError

__all__ = ["KeypointDataset", "NUM_KEYPOINTS"]

NUM_KEYPOINTS = 21


@dataclass(frozen=True)
class KeypointDataset:
    """images uint8 (N, 3, H, W) RGB; keypoints float32 (N, 21, 2) input pixels (x, y);
    visibility uint8 (N, 21): 2 visible, 1 occluded, 0 outside the image / unlabelled;
    scale (N,) float32 input pixels per original-image pixel, when the images were resized from
    larger originals (None: the input is the original)."""

    images: torch.Tensor
    keypoints: torch.Tensor
    visibility: torch.Tensor
    scale: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise DataError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.keypoints.shape != (n, NUM_KEYPOINTS, 2):
            raise DataError(f"keypoints must be ({n}, 21, 2), got {tuple(self.keypoints.shape)}")
        if self.visibility.shape != (n, NUM_KEYPOINTS):
            raise DataError(f"visibility must be ({n}, 21), got {tuple(self.visibility.shape)}")
        if self.scale is not None and self.scale.shape != (n,):
            raise DataError(f"scale must be ({n},), got {tuple(self.scale.shape)}")

    @classmethod
    def from_numpy(cls, images, keypoints, visibility) -> KeypointDataset:
        return cls(
            torch.as_tensor(images),
            torch.as_tensor(keypoints, dtype=torch.float32),
            torch.as_tensor(visibility, dtype=torch.uint8),
        )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def size(self) -> int:
        """Input side in pixels (images are square)."""
        return self.images.shape[-1]

    def subset(self, index: torch.Tensor | slice) -> KeypointDataset:
        scale = None if self.scale is None else self.scale[index]
        return KeypointDataset(self.images[index], self.keypoints[index], self.visibility[index], scale)

    def to(self, device: torch.device | str) -> KeypointDataset:
        scale = None if self.scale is None else self.scale.to(device)
        return KeypointDataset(self.images.to(device), self.keypoints.to(device), self.visibility.to(device), scale)
