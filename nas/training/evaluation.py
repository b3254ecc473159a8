"""Evaluation: decode a model's heatmaps to keypoints and measure EPE / PCK / AUC on a dataset.

While a trainer runs with `eval_graph` on, its model's batches replay one captured CUDA graph
(`nas.training.graph_eval`); otherwise, and everywhere else, they run eagerly."""
from __future__ import annotations

import torch
from torch import nn

from nas.data.dataset import KeypointDataset
from nas.keypoints.decoding import decode
from nas.keypoints.metrics import KeypointMetrics, keypoint_errors, summarise
from nas.model.network import HEATMAP_STRIDE
from nas.training.device import memory_format_of, to_memory_format
from nas.training.graph_eval import GraphPredict, graph_for

__all__ = ["predict_keypoints", "keypoint_distances", "scaled_metrics", "evaluate", "to_input", "graph_predict"]


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 images -> the model's float input in [0, 1]."""
    return images_u8.float().div_(255.0)


def predict_keypoints(model: nn.Module, images_u8: torch.Tensor, loss: str) -> torch.Tensor:
    """Decoded keypoints (B, K, 2) in input pixels for a batch of uint8 images (model in eval mode).
    The batch takes the model's memory format, so a model trained or converted to channels_last is
    fed channels_last without every caller passing the format along."""
    x = to_memory_format(to_input(images_u8), memory_format_of(model))
    return decode(model(x), loss, HEATMAP_STRIDE)


def graph_predict(model: nn.Module, loss: str, batch_size: int) -> GraphPredict:
    """`predict_keypoints` of `model` for batches of at most `batch_size`, to be captured as a CUDA graph."""
    return GraphPredict(lambda images: predict_keypoints(model, images, loss), loss, batch_size)


@torch.no_grad()
def keypoint_distances(
    model: nn.Module, data: KeypointDataset, loss: str, batch_size: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over `data` (already on the model's device): per-keypoint distances (N, K) and
    per-sample PCK norms (N,), in input pixels."""
    was_training = model.training
    model.eval()
    dists, norms = [], []
    graph = graph_for(model, loss, batch_size, data.images)
    for i in range(0, len(data), batch_size):
        batch = data.images[i : i + batch_size]
        pred = graph(batch) if graph is not None else predict_keypoints(model, batch, loss)
        d, n = keypoint_errors(pred, data.keypoints[i : i + batch_size], data.visibility[i : i + batch_size])
        dists.append(d)
        norms.append(n)
    model.train(was_training)
    return torch.cat(dists), torch.cat(norms)


def scaled_metrics(
    dists: torch.Tensor, norms: torch.Tensor, vis: torch.Tensor, px_scale: float | torch.Tensor = 1.0
) -> KeypointMetrics:
    """EPE / PCK / AUC of distances multiplied by `px_scale`: one factor (proxy input -> target
    pixels) or one per sample (-> original pixels)."""
    if isinstance(px_scale, torch.Tensor):
        px_scale = px_scale.to(dists)
        return summarise(dists * px_scale[:, None], norms * px_scale, vis)
    return summarise(dists * px_scale, norms * px_scale, vis)


def evaluate(
    model: nn.Module, data: KeypointDataset, loss: str, batch_size: int = 128,
    px_scale: float | torch.Tensor = 1.0,
) -> KeypointMetrics:
    """EPE / PCK / AUC on `data` (already on the model's device), distances scaled by `px_scale`."""
    return scaled_metrics(*keypoint_distances(model, data, loss, batch_size), data.visibility, px_scale)
