"""Keypoints on the training device: heatmap codec, losses, decoding, metrics and augmentation."""
from __future__ import annotations

from nas.keypoints.augment import affine_matrices, apply_affine, random_affine
from nas.keypoints.codec import encode, to_heatmap_coords, to_input_coords
from nas.keypoints.decoding import DECODER_OF_LOSS, DECODERS, decode, decode_argmax, decoder_name, soft_argmax
from nas.keypoints.losses import LOSSES, heatmap_loss
from nas.keypoints.metrics import KeypointMetrics, keypoint_errors, summarise

__all__ = [
    "DECODERS", "DECODER_OF_LOSS", "KeypointMetrics", "LOSSES", "affine_matrices", "apply_affine", "decode",
    "decode_argmax", "decoder_name", "encode", "heatmap_loss", "keypoint_errors", "random_affine", "soft_argmax",
    "summarise", "to_heatmap_coords", "to_input_coords",
]
