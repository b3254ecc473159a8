from __future__ import annotations

import pytest
import torch

from nas.errors import ConfigError
from nas.keypoints.codec import encode
from nas.keypoints.decoding import soft_argmax
from nas.keypoints.losses import LOSSES, heatmap_loss


def _random_points(n=4, size=64, margin=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 21, 2, generator=g) * (size - 2 * margin) + margin


def test_losses_are_zero_ish_at_the_target_and_masked():
    xy = _random_points()
    target = encode(xy, (16, 16), 4, 2.0)
    w = torch.ones(4, 21)
    assert heatmap_loss("mse", target, xy, w, 4, 2.0) < 1e-9
    assert heatmap_loss("integral", target.clamp_min(1e-10).log() * 4, xy, w, 4, 2.0) < 0.05
    far = xy + 8.0
    assert heatmap_loss("mse", target, far, w, 4, 2.0) > 0.01
    assert heatmap_loss("mse", target, far, torch.zeros(4, 21), 4, 2.0) == 0


def test_integral_is_the_mean_l1_in_heatmap_cells():
    # uniform logits put the soft-argmax on the map centre: input (32, 32) for a 16x16 map at stride 4
    out = torch.zeros(1, 2, 16, 16)
    xy = torch.tensor([[[36.0, 32.0], [32.0, 24.0]]])  # 4 px and 8 px away: 1 and 2 cells
    assert heatmap_loss("integral", out, xy, torch.ones(1, 2), 4, 2.0) == pytest.approx(1.5)
    assert heatmap_loss("integral", out, xy, torch.tensor([[1.0, 0.0]]), 4, 2.0) == pytest.approx(1.0)


def test_dsnt_adds_the_cross_entropy_to_the_normalised_target():
    xy = _random_points(n=2)
    out = torch.randn(2, 21, 16, 16, generator=torch.Generator().manual_seed(1))
    w = torch.ones(2, 21)
    target = encode(xy, (16, 16), 4, 2.0)
    target = target / target.sum((-1, -2), keepdim=True)
    ce = -(target * soft_argmax(out, 4)[1].log()).sum((-1, -2)).mean()
    diff = heatmap_loss("dsnt", out, xy, w, 4, 2.0) - heatmap_loss("integral", out, xy, w, 4, 2.0)
    assert diff == pytest.approx(ce.item(), rel=1e-5)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_gradient_steps_move_the_decoded_point_to_the_target(loss):
    from nas.keypoints.decoding import decode

    xy = torch.tensor([[[20.0, 44.0]]])
    out = torch.zeros(1, 1, 16, 16, requires_grad=True)
    opt = torch.optim.Adam([out], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        heatmap_loss(loss, out, xy, torch.ones(1, 1), 4, 2.0).backward()
        opt.step()
    assert (decode(out.detach(), loss, 4) - xy).norm() < 1.0


def test_unknown_loss_is_a_config_error():
    with pytest.raises(ConfigError, match="mse, integral, dsnt"):
        heatmap_loss("l2", torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2), torch.ones(1, 1), 4, 2.0)
