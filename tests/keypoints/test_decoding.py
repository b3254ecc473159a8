from __future__ import annotations

import pytest
import torch

from nas.errors import ConfigError
from nas.keypoints.codec import encode
from nas.keypoints.decoding import DECODER_OF_LOSS, DECODERS, decode, decode_argmax, soft_argmax
from nas.keypoints.losses import LOSSES


def _random_points(n=400, size=64, margin=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 21, 2, generator=g) * (size - 2 * margin) + margin


def test_encode_decode_round_trip_under_a_third_of_a_pixel():
    xy = _random_points()
    hm = encode(xy, (16, 16), stride=4, sigma=2.0)
    err = (decode_argmax(hm, stride=4) - xy).norm(dim=-1)
    assert err.mean() < 0.3
    assert hm.amax((-1, -2)).min() > 0.8  # a peak near 1 for every point


def test_soft_argmax_of_log_gaussian_recovers_interior_points():
    xy = _random_points(margin=20)
    hm = encode(xy, (16, 16), stride=4, sigma=1.5)
    pred, prob = soft_argmax(hm.clamp_min(1e-10).log(), stride=4)
    assert (pred - xy).norm(dim=-1).mean() < 0.1
    assert torch.allclose(prob.sum((-1, -2)), torch.ones(400, 21))


def test_every_loss_has_a_decoder():
    assert set(DECODER_OF_LOSS) == set(LOSSES)
    assert set(DECODER_OF_LOSS.values()) <= set(DECODERS)


def test_the_loss_chooses_how_maps_are_read():
    # an mse model outputs heatmaps: argmax finds a corner point; read as logits (soft-argmax) the
    # same map is pulled toward the centre. A dsnt model outputs logits: soft-argmax reads them.
    xy = torch.tensor([[[6.0, 58.0]]])
    heat = encode(xy, (16, 16), 4, 2.0)
    assert (decode(heat, "mse", 4) - xy).norm() < 0.3
    assert (decode(heat, "dsnt", 4) - xy).norm() > 10
    logits = heat.clamp_min(1e-10).log() * 4
    assert torch.equal(decode(logits, "dsnt", 4), soft_argmax(logits, 4)[0])
    assert torch.equal(decode(logits, "integral", 4), decode(logits, "dsnt", 4))


def test_unknown_loss_has_no_decoder():
    with pytest.raises(ConfigError, match="'l2'"):
        decode(torch.zeros(1, 1, 4, 4), "l2", 4)
