"""The metrics follow MMPose's keypoint_eval: macro PCK and AUC with strict `<`, AUC thresholds
i/20 x 30 px. Expected numbers are worked out by hand in the comments."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.keypoints.metrics import keypoint_errors, summarise


def test_one_hand_with_a_far_point_and_an_unlabelled_one():
    true = torch.zeros(1, 21, 2)
    true[0, :, 0] = torch.arange(21) * 5.0  # box side 100 px -> PCK threshold 20 px
    pred = true.clone()
    pred[0, 0, 0] += 3.0  # 3 px
    pred[0, 1, 1] += 40.0  # 40 px: outside PCK and AUC range
    vis = torch.full((1, 21), 2)
    vis[0, 2] = 0  # unlabelled point is ignored even if wrong
    pred[0, 2] += 1000
    m = summarise(*keypoint_errors(pred, true, vis), vis)
    assert m.count == 20
    assert m.px_error == pytest.approx(43.0 / 20)
    assert m.pck == pytest.approx(19 / 20)
    # thresholds 0, 1.5, ..., 28.5: the 18 exact points hit 19 of them (not 0 < 0), the 3 px point
    # 17 (not at 0, 1.5 or 3.0, which it sits on), the 40 px point none: (18*19 + 17) / (20 * 20)
    assert m.auc == pytest.approx(359 / 400)


def test_macro_pck_strict_thresholds_and_a_keypoint_never_labelled():
    # keypoint 0 labelled in both samples, keypoint 1 in sample 0 only, keypoint 2 in neither
    true = torch.tensor([[[0.0, 0.0], [50.0, 0.0], [9.0, 9.0]],
                         [[20.0, 20.0], [0.0, 0.0], [9.0, 9.0]]])
    vis = torch.tensor([[2, 2, 0], [2, 0, 0]])
    offset = torch.tensor([[[0.0, 0.0], [6.0, 8.0], [500.0, 0.0]],
                           [[3.0, 0.0], [700.0, 0.0], [0.0, 900.0]]])
    dist, norm = keypoint_errors(true + offset, true, vis)
    # sample 0: box side 50 -> threshold 10 px; sample 1 has one labelled point: side 0, taken as 1 -> 0.2 px
    assert norm.tolist() == pytest.approx([10.0, 0.2])
    m = summarise(dist, norm, vis)
    # EPE over the 3 labelled points (a micro mean): (0 + 10 + 3) / 3
    assert m.count == 3 and m.px_error == pytest.approx(13 / 3)
    # PCK: kp0 hits in sample 0 (0 < 10), misses in 1 (3 >= 0.2) -> 1/2; kp1 sits exactly on its
    # threshold (10 < 10 is false) -> 0/1; kp2 has no labelled sample and is left out: (1/2 + 0) / 2
    assert m.pck == pytest.approx(0.25)
    # AUC over thresholds 1.5 i, i = 0..19: kp0's 0 px point hits 19 of them (i >= 1), its 3 px point
    # 17 (i >= 3; 3 < 3.0 is false), kp1's 10 px point 13 (i >= 7, 10.5 px on);
    # mean over thresholds of (kp0 rate + kp1 rate) / 2 = ((19 + 17) / 2 + 13) / 2 / 20 = 31/40
    assert m.auc == pytest.approx(31 / 40)


def _mmpose_pck(dist: np.ndarray, thr: np.ndarray, mask: np.ndarray) -> float:
    """A loop over keypoints as MMPose's keypoint_pck_accuracy computes it."""
    accs = [(dist[mask[:, k], k] < thr[mask[:, k], k]).mean() for k in range(dist.shape[1]) if mask[:, k].any()]
    return float(np.mean(accs)) if accs else 0.0


def test_agrees_with_a_per_keypoint_loop_on_random_data():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(50, 21, 2, generator=g) * 100
    pred = true + torch.randn(50, 21, 2, generator=g) * 8
    vis = (torch.rand(50, 21, generator=g) < 0.7).int() * 2
    vis[:, 5] = 0
    vis[:10, 6] = 2
    vis[10:, 6] = 0  # keypoint 6: only a few labelled samples, weighs as much as the others
    dist, norm = keypoint_errors(pred, true, vis)
    m = summarise(dist, norm, vis)
    d, mask = dist.numpy(), vis.numpy() > 0
    assert m.pck == pytest.approx(_mmpose_pck(d, np.broadcast_to(norm.numpy()[:, None], d.shape), mask))
    auc = np.mean([_mmpose_pck(d, np.full(d.shape, i / 20 * 30.0), mask) for i in range(20)])
    assert m.auc == pytest.approx(auc)


def test_nothing_labelled_gives_nan():
    vis = torch.zeros(2, 21)
    m = summarise(*keypoint_errors(torch.rand(2, 21, 2), torch.rand(2, 21, 2), vis), vis)
    assert m.count == 0 and np.isnan(m.px_error) and np.isnan(m.pck) and np.isnan(m.auc)
