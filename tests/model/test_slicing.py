"""Children of a parent by slicing: the same function as a standalone model with the sliced weights,
the same cost as `build_model` builds, gradients that reach the parent, and clear refusals."""
from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from nas.model.arch import ArchConfig
from nas.model.cost import count_cost, model_cost
from nas.model.network import build_model
from nas.model.slicing import SliceError, child_model, child_template, child_tensors, named_tensors

PARENTS = {
    "mobilenetv3_small": ArchConfig("mobilenetv3_small", 1.0, 3, 1.0, input_size=64),
    "mobilenetv2": ArchConfig("mobilenetv2", 0.75, 3, 0.5, input_size=64),
}
CHILDREN = [
    ArchConfig("mobilenetv3_small", 0.35, 1, 0.25, input_size=64),
    ArchConfig("mobilenetv3_small", 0.75, 2, 0.625, input_size=64),
    ArchConfig("mobilenetv3_small", 1.0, 3, 1.0, input_size=64),  # the parent itself
    ArchConfig("mobilenetv2", 0.25, 2, 0.125, input_size=64),
    ArchConfig("mobilenetv2", 0.6, 3, 0.5, input_size=64),
]


def _parent(backbone: str) -> torch.nn.Module:
    parent = build_model(PARENTS[backbone], seed=3)
    with torch.no_grad():  # BatchNorm statistics that are not the defaults, so slicing them matters
        for name, buf in parent.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return parent.eval()


@pytest.mark.parametrize("arch", CHILDREN, ids=lambda a: a.short())
def test_a_sliced_child_computes_exactly_the_standalone_model_with_its_weights(arch):
    parent = _parent(arch.backbone)
    x = torch.rand(2, 3, 64, 64)
    template = child_template(arch).eval()
    shared = functional_call(template, child_tensors(named_tensors(parent), template), (x,))
    standalone = child_model(parent, arch).eval()
    assert torch.equal(shared, standalone(x))
    assert model_cost(standalone, arch.input_size) == count_cost(arch)  # what build_model builds, same cost
    if arch == PARENTS[arch.backbone]:
        assert torch.equal(shared, parent(x))


def test_a_childs_gradients_reach_the_leading_slices_of_the_parent():
    parent = _parent("mobilenetv3_small").train()
    arch = CHILDREN[0]
    template = child_template(arch)
    out = functional_call(template, child_tensors(named_tensors(parent), template), (torch.rand(2, 3, 64, 64),))
    out.square().mean().backward()
    stem = parent.backbone.conv_stem.weight
    c = template.backbone.conv_stem.weight.shape[0]
    assert stem.grad[:c].abs().sum() > 0 and stem.grad[c:].abs().sum() == 0
    assert parent.head.blocks[2].body[0][0].weight.grad is None  # deeper than the child: untouched


@pytest.mark.parametrize("arch, problem", [
    (ArchConfig("mobilenetv3_small", 1.25, 1, 0.25, input_size=64), "not a leading slice"),
    (ArchConfig("mobilenetv3_small", 0.5, 4, 0.25, input_size=64), "no such tensor"),
    (ArchConfig("mobilenetv2", 0.5, 1, 0.25, input_size=64), "mobilenetv2 child cannot be sliced out of a mobilenetv3"),
])
def test_a_child_that_does_not_fit_the_parent_is_refused_by_name(arch, problem):
    with pytest.raises(SliceError, match=problem):
        child_model(_parent("mobilenetv3_small"), arch)
