from __future__ import annotations

import torch

from nas.keypoints.codec import encode, to_heatmap_coords, to_input_coords


def test_cell_centres_map_to_input_pixel_centres():
    # heatmap cell u at stride 4 covers input pixels [4u, 4u + 4): its centre is 4u + 2
    u = torch.tensor([0.0, 1.0, 7.0])
    assert to_input_coords(u, 4).tolist() == [2.0, 6.0, 30.0]
    xy = torch.rand(5, 21, 2) * 64
    assert torch.allclose(to_input_coords(to_heatmap_coords(xy, 4), 4), xy)


def test_peak_lands_on_the_right_cell():
    xy = torch.tensor([[[10.0, 22.0]]])  # heatmap cell (10/4-0.5, 22/4-0.5) = (2, 5)
    hm = encode(xy, (16, 16), stride=4, sigma=2.0)
    idx = hm[0, 0].argmax()
    assert (idx % 16, idx // 16) == (2, 5)
    assert hm[0, 0, 5, 2] == 1.0  # a point on a cell centre gets an exact peak of 1


def test_gaussian_width_is_sigma_cells():
    # one cell (4 px) from the centre the target is exp(-1 / (2 sigma^2))
    hm = encode(torch.tensor([[[10.0, 22.0]]]), (16, 16), stride=4, sigma=2.0)
    assert torch.isclose(hm[0, 0, 5, 3], torch.exp(torch.tensor(-1 / 8)))
    assert torch.isclose(hm[0, 0, 6, 3], torch.exp(torch.tensor(-2 / 8)))
