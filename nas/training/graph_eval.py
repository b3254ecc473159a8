"""Evaluation's forward pass and decoding replayed as one captured CUDA graph per batch (the recipe's
`eval_graph`), so validating a small model no longer waits on the launch of each of its kernels.

`GraphPredict` wraps the eager prediction of a batch (uint8 images -> decoded keypoints) for one
batch size: its first calls run eagerly (warm-up), the next captures the prediction on a static
batch buffer, and from then on every batch is copied in and the graph replayed. A batch smaller
than the buffer (a data set's ragged end) fills its first rows; the rest hold an earlier batch,
whose keypoints are computed and dropped (in eval mode every image is predicted on its own). It
computes what the eager prediction computes, in the same precision (float32).

While a run trains, its trainer attaches a `GraphPredict` to the model (`attached`); every
evaluation of that model with that loss and batch size (the epoch's validation, a search's checks
within the epoch) replays it, and the graph's memory goes when the run ends. A prediction that
cannot be captured runs eagerly from then on, with a warning kept in `note`.
"""
from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Callable, Iterator

import torch
from torch import nn

from nas.training.graph_step import WARMUP_STEPS, CaptureFailed

__all__ = ["GraphPredict", "attached", "graph_for"]

Predict = Callable[[torch.Tensor], torch.Tensor]  # uint8 images (B, C, H, W) -> keypoints (B, K, 2)
_ATTACHED: weakref.WeakKeyDictionary[nn.Module, GraphPredict] = weakref.WeakKeyDictionary()


class GraphPredict:
    """`predict` for batches of at most `batch` images, replayed as one CUDA graph after `warmup` eager calls."""

    device_type = "cuda"  # where a graph can be captured

    def __init__(self, predict: Predict, loss: str, batch: int, warmup: int = WARMUP_STEPS) -> None:
        self.predict, self.loss, self.batch, self.warmup = predict, loss, batch, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: torch.Tensor | None = None  # the batch buffer the graph reads
        self.out: torch.Tensor | None = None  # the keypoints the graph writes
        self.note = ""  # why the prediction runs eagerly (a capture that failed), else empty

    def serves(self, loss: str, batch: int, images: torch.Tensor) -> bool:
        """Whether batches of `images`' kind, at most `batch` at a time, predicted for `loss`, replay this graph."""
        if (loss, batch) != (self.loss, self.batch) or images.device.type != self.device_type:
            return False
        return self.static is None or (images.shape[1:], images.dtype) == (self.static.shape[1:], self.static.dtype)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Keypoints of `images` (at most `batch`), valid until the next call."""
        n = len(images)
        if self.note:
            return self.predict(images)
        if self.graph is None:
            if self.warmup > 0:
                self.warmup -= 1
                return self.predict(images)
            try:
                self._capture(images)
            except CaptureFailed as exc:
                self.note = f"evaluation could not be captured as a CUDA graph ({exc}): it ran eagerly"
                warnings.warn(self.note, RuntimeWarning, stacklevel=2)
                return self.predict(images)
        self.static[:n].copy_(images)
        self.graph.replay()
        return self.out[:n]

    def _capture(self, images: torch.Tensor) -> None:
        """Record the prediction of a full batch buffer shaped like `images`; CaptureFailed when it cannot be."""
        static = torch.zeros((self.batch, *images.shape[1:]), dtype=images.dtype, device=images.device)
        try:
            self.graph, self.out = self._record(static)
        except Exception as exc:  # torch raises RuntimeError, AssertionError, ... for ops it cannot capture
            raise CaptureFailed.of(exc) from exc
        self.static = static

    def _record(self, static: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """The graph of `predict(static)` and its output buffer (recording runs nothing)."""
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):
            out = self.predict(static)
        return graph, out


def graph_for(model: nn.Module, loss: str, batch: int, images: torch.Tensor) -> GraphPredict | None:
    """The captured prediction attached to `model` that serves these batches, if any."""
    graph = _ATTACHED.get(model)
    return graph if graph is not None and graph.serves(loss, batch, images) else None


@contextlib.contextmanager
def attached(model: nn.Module, graph: GraphPredict | None) -> Iterator[GraphPredict | None]:
    """Evaluations of `model` replay `graph` while inside (nothing changes for None); it is dropped
    on the way out, with its memory."""
    if graph is None:
        yield None
        return
    _ATTACHED[model] = graph
    try:
        yield graph
    finally:
        _ATTACHED.pop(model, None)
