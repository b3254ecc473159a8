"""On the CPU, what can be checked of the captured step without a GPU: the body it records (forward,
loss, backward) never reads a value back to the host nor makes a tensor from Python data. On CUDA
either fails the capture (the run then falls back to eager, slower) - for every backbone and loss."""
from __future__ import annotations

import functools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from nas.keypoints import losses
from nas.model.arch import ArchConfig
from nas.model.backbones import backbone_names
from nas.model.network import build_model
from nas.training.recipe import TrainConfig
from nas.training.trainer import _loss

# ops that wait on the device (a value read back, or an output whose shape depends on the data) or copy
# host memory in: none of them may run while a CUDA graph records
HOST_SYNC = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default,
             torch.ops.aten.masked_select.default, torch.ops.aten.lift_fresh.default}


class HostSyncs(TorchDispatchMode):
    """Records the names of `HOST_SYNC` ops dispatched while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in HOST_SYNC:
            self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def _body_syncs(backbone: str, loss: str) -> list[str]:
    """The host syncs of one step body (the trainer's loss, then backward) on a 64 px batch of 4."""
    model = build_model(ArchConfig(backbone, 0.35, 2, 0.25, input_size=64)).train()
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 64, 64, generator=g)
    keypoints, vis = 8 + 48 * torch.rand(4, 21, 2, generator=g), torch.full((4, 21), 2, dtype=torch.uint8)
    vis[0, :3] = 0  # a few keypoints not visible, as real batches have
    body = functools.partial(_loss, model, TrainConfig(loss=loss), torch.device("cpu"), False)
    with HostSyncs() as mode:
        body(images, keypoints, vis).backward()
    return mode.seen


@pytest.mark.parametrize("loss", list(losses.LOSSES))
@pytest.mark.parametrize("backbone", backbone_names())
def test_the_captured_body_never_reads_back_to_the_host(backbone, loss):
    assert _body_syncs(backbone, loss) == []


def test_the_check_sees_a_read_back(monkeypatch):
    def reads_back(out, xy, weight, stride, sigma):
        scale = float(weight.sum())  # a host read: legal eagerly, fatal to a capture
        return losses.mse_loss(out, xy, weight, stride, sigma) * scale + torch.tensor(0.0)

    monkeypatch.setitem(losses.LOSSES, "mse", reads_back)
    assert _body_syncs("mobilenetv3_small", "mse") == ["aten._local_scalar_dense.default",
                                                       "aten.lift_fresh.default"]
