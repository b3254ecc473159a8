"""Captured evaluation's bookkeeping on the CPU, with a stand-in for the CUDA graph (a "replay" that
recomputes the prediction on the static buffer): warm-up, the batch buffer, a ragged end and a set
smaller than one batch, which evaluations it serves, and a capture that fails. The capture itself
and its numbers against the eager pass run where CUDA is (tests/training/test_cuda_graph.py)."""
from __future__ import annotations

import pytest
import torch

from nas.training.evaluation import keypoint_distances, predict_keypoints
from nas.training.graph_eval import GraphPredict, attached, graph_for
from nas.training.graph_step import WARMUP_STEPS
from tests.training.test_cuda_graph import _data, _peaky_model


class _Replay:
    """What a captured graph does on replay, computed eagerly: the prediction of the static buffer."""

    def __init__(self, predict, static):
        self.predict, self.static, self.out, self.replays = predict, static, predict(static), 0

    def replay(self):
        self.replays += 1
        self.out.copy_(self.predict(self.static))


class _StandIn(GraphPredict):
    device_type = "cpu"
    fail = False

    def _record(self, static):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing\nmore lines")
        self.stand_in = _Replay(self.predict, static)
        return self.stand_in, self.stand_in.out


def _stand_in(model, fail=False) -> _StandIn:
    graph = _StandIn(lambda images: predict_keypoints(model, images, "dsnt"), "dsnt", 32)
    graph.fail = fail
    return graph


def test_batches_replay_one_graph_after_the_warm_up_and_give_the_eager_distances():
    model, data = _peaky_model(), _data(70, 2)  # 32 + 32 + a ragged 6
    small = data.subset(slice(0, 20))  # smaller than one batch: fills the buffer's first rows
    eager = [keypoint_distances(model, d, "dsnt", 32) for d in (data, data, small)]
    graph = _stand_in(model)
    with attached(model, graph):
        passes = [keypoint_distances(model, d, "dsnt", 32) for d in (data, data, small)]
        assert graph_for(model, "dsnt", 16, data.images) is None  # another batch size: eager
        assert graph_for(model, "mse", 32, data.images) is None  # another loss: eager
        assert graph_for(model, "dsnt", 32, data.images[:, :, :32]) is None  # another image size: eager
    assert graph_for(model, "dsnt", 32, data.images) is None  # dropped on the way out
    assert graph.static.shape == (32, 3, 64, 64) and graph.note == ""
    # 3 warm-up calls (the first pass), the capture on the 4th, every batch after it replayed
    assert WARMUP_STEPS == 3 and graph.stand_in.replays == 3 + 1
    for (d, n), (ed, en) in zip(passes, eager, strict=True):
        torch.testing.assert_close(d, ed, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(n, en)


def test_a_prediction_that_cannot_be_captured_runs_eagerly_and_says_why():
    model, data = _peaky_model(), _data(70, 2)
    eager = keypoint_distances(model, data, "dsnt", 32)
    graph = _stand_in(model, fail=True)
    with attached(model, graph), pytest.warns(RuntimeWarning, match="evaluation could not be captured"):
        passes = [keypoint_distances(model, data, "dsnt", 32) for _ in range(2)]
    assert graph.graph is None and graph.note.startswith("evaluation could not be captured as a CUDA graph "
                                                         "(RuntimeError: operation not permitted")
    assert "more lines" not in graph.note
    for d, n in passes:
        torch.testing.assert_close(d, eager[0], atol=1e-4, rtol=1e-4)


def test_nothing_attached_changes_nothing():
    model, data = _peaky_model(), _data(40, 2)
    with attached(model, None) as graph:
        assert graph is None and graph_for(model, "dsnt", 32, data.images) is None
