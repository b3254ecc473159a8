from __future__ import annotations

import pytest
import torch

from nas.keypoints.metrics import keypoint_errors, summarise


def test_epe_pck_auc_on_known_points():
    true = torch.zeros(1, 21, 2)
    true[0, :, 0] = torch.arange(21) * 5.0  # box side 100 px -> PCK threshold 20 px
    pred = true.clone()
    pred[0, 0, 0] += 3.0  # 3 px
    pred[0, 1, 1] += 40.0  # 40 px: outside PCK and AUC range
    vis = torch.full((1, 21), 2)
    vis[0, 2] = 0  # unlabelled point is ignored even if wrong
    pred[0, 2] += 1000
    d, n = keypoint_errors(pred, true, vis)
    m = summarise(d, n, vis)
    assert m.count == 20
    assert m.px_error == pytest.approx(43.0 / 20)
    assert m.pck == pytest.approx(19 / 20)
    thr = torch.linspace(0, 30, 20)
    expected_auc = ((18 + (thr >= 3).float() * 1).sum() / (20 * 20)).item()
    assert m.auc == pytest.approx(expected_auc)
