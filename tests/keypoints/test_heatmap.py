from __future__ import annotations

import torch

from nas.keypoints.heatmap import decode_argmax, encode, heatmap_loss, soft_argmax


def _random_points(n=400, size=64, margin=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 21, 2, generator=g) * (size - 2 * margin) + margin


def test_encode_decode_round_trip_under_a_third_of_a_pixel():
    xy = _random_points()
    hm = encode(xy, (16, 16), stride=4, sigma=2.0)
    err = (decode_argmax(hm, stride=4) - xy).norm(dim=-1)
    assert err.mean() < 0.3
    assert hm.amax((-1, -2)).min() > 0.8  # a peak near 1 for every point


def test_peak_lands_on_the_right_cell():
    xy = torch.tensor([[[10.0, 22.0]]])  # heatmap cell (10/4-0.5, 22/4-0.5) = (2, 5)
    hm = encode(xy, (16, 16), stride=4, sigma=2.0)
    idx = hm[0, 0].argmax()
    assert (idx % 16, idx // 16) == (2, 5)


def test_soft_argmax_of_log_gaussian_recovers_interior_points():
    xy = _random_points(margin=20)
    hm = encode(xy, (16, 16), stride=4, sigma=1.5)
    pred, prob = soft_argmax(hm.clamp_min(1e-10).log(), stride=4)
    assert (pred - xy).norm(dim=-1).mean() < 0.1
    assert torch.allclose(prob.sum((-1, -2)), torch.ones(400, 21))


def test_losses_are_zero_ish_at_the_target_and_masked():
    xy = _random_points(n=4, margin=20)
    target = encode(xy, (16, 16), 4, 2.0)
    w = torch.ones(4, 21)
    assert heatmap_loss("mse", target, xy, w, 4, 2.0) < 1e-9
    assert heatmap_loss("integral", target.clamp_min(1e-10).log() * 4, xy, w, 4, 2.0) < 0.05
    far = xy + 8.0
    assert heatmap_loss("mse", target, far, w, 4, 2.0) > 0.01
    assert heatmap_loss("mse", target, far, torch.zeros(4, 21), 4, 2.0) == 0
