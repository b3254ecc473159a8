from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from nas.keypoints.augment import affine_matrices, apply_affine, random_affine


@pytest.mark.parametrize("angle", [-170.0, -75.0, 12.5, 30.0, 90.0, 180.0])
def test_keypoint_rotation_matches_torchvision(angle):
    h = w = 64
    kp = torch.rand(3, 21, 2, generator=torch.Generator().manual_seed(1)) * 40 + 12
    theirs = v2.functional.rotate(tv_tensors.KeyPoints(kp.reshape(-1, 2), canvas_size=(h, w)), angle)
    mats = affine_matrices(torch.full((3,), angle), torch.zeros(3, dtype=torch.bool))
    _, ours, _ = apply_affine(torch.zeros(3, 3, h, w), kp, torch.ones(3, 21), mats)
    assert (ours.reshape(-1, 2) - theirs).abs().max() < 0.5


def test_image_and_keypoint_move_together_to_the_flipped_and_rotated_place():
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 10, 40] = 1.0  # pixel centre (40.5, 10.5)
    for angle, flip in [(30.0, True), (-100.0, False), (0.0, True)]:
        # flip first (mirror about the image's middle: a pixel centre x goes to 64 - x), then rotate as torchvision
        x = 64 - 40.5 if flip else 40.5
        theirs = v2.functional.rotate(tv_tensors.KeyPoints(torch.tensor([[x, 10.5]]), canvas_size=(64, 64)), angle)[0]
        mats = affine_matrices(torch.tensor([angle]), torch.tensor([flip]))
        out, kp, _ = apply_affine(img, torch.tensor([[[40.5, 10.5]]]), torch.ones(1, 1), mats)
        assert (kp[0, 0] - theirs).abs().max() < 0.5  # an identity leaves it at (40.5, 10.5), far from it
        iy, ix = divmod(int(out[0, 0].argmax()), 64)  # and the image's bright pixel went there too
        assert abs(ix + 0.5 - kp[0, 0, 0]) <= 1.0 and abs(iy + 0.5 - kp[0, 0, 1]) <= 1.0


def test_flip_mirrors_x():
    mats = affine_matrices(torch.zeros(1), torch.ones(1, dtype=torch.bool))
    _, kp, _ = apply_affine(torch.zeros(1, 3, 64, 32), torch.tensor([[[5.0, 7.0]]]), torch.ones(1, 1), mats)
    assert torch.allclose(kp, torch.tensor([[[27.0, 7.0]]]))


def test_points_rotated_out_of_the_image_lose_visibility_but_keep_coordinates():
    kp = torch.tensor([[[1.0, 1.0], [32.0, 32.0]]])
    mats = affine_matrices(torch.tensor([45.0]), torch.zeros(1, dtype=torch.bool))
    _, out, vis = apply_affine(torch.zeros(1, 3, 64, 64), kp, torch.full((1, 2), 2), mats)
    assert vis.tolist() == [[0, 2]]
    assert out[0, 0, 0] < 0  # kept outside, not clipped


def test_random_affine_is_seeded_moves_every_sample_and_is_the_identity_without_range():
    img = torch.rand(4, 3, 32, 32)
    kp = torch.rand(4, 21, 2) * 16 + 8
    vis = torch.ones(4, 21)
    a = random_affine(img, kp, vis, 180, True, torch.Generator().manual_seed(0))
    b = random_affine(img, kp, vis, 180, True, torch.Generator().manual_seed(0))
    c = random_affine(img, kp, vis, 180, True, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # one seed, one draw
    assert not torch.allclose(a[1], c[1])  # another seed, another draw
    moved = (a[1] - kp).norm(dim=-1).amax(dim=1)
    assert (moved > 0.5).all()  # an identity (or a no-op) fails here: every sample is rotated or flipped
    # distances between keypoints are kept (a rigid map), so it is a rotation/flip, not noise
    d = torch.cdist(kp[0], kp[0])
    assert torch.allclose(torch.cdist(a[1][0], a[1][0]), d, atol=1e-3)
    same = random_affine(img, kp, vis, 0, False, torch.Generator().manual_seed(0))
    assert torch.allclose(same[1], kp, atol=1e-4) and torch.allclose(same[0], img, atol=1e-4)


def test_the_closed_form_inverse_is_linalgs_for_any_invertible_map():
    from nas.keypoints.augment import _inverse_2x2

    g = torch.Generator().manual_seed(4)
    general = torch.randn(64, 2, 2, generator=g) + 3 * torch.eye(2)  # scales and shears, not only rotations
    rotations = affine_matrices(torch.rand(64, generator=g) * 360 - 180, torch.rand(64, generator=g) < 0.5)
    maps = torch.cat([general, rotations])
    torch.testing.assert_close(_inverse_2x2(maps), torch.linalg.inv(maps))
