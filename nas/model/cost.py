"""Exact model cost and the ranking score.

GFLOPs follow the competition's measurement: the (MIT) `thop` multiply-accumulate count at batch 1,
eval mode, at the deployed input size, / 1e9. MParams is the exact parameter count / 1e6 (thop's
own parameter figure misses timm's BatchNormAct2d). Beside it, `true_gmacs` is torch's own
FlopCounterMode count / 2: thop over-counts stride-2 transposed convs 4x (it multiplies every
output pixel by the full kernel), so users can see both.
"""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import asdict, dataclass

import thop
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.model.arch import ArchConfig

__all__ = ["Cost", "count_cost", "model_cost", "score", "score_of", "thop_macs", "torch_macs", "param_count"]


@dataclass(frozen=True)
class Cost:
    gflops: float  # thop MACs / 1e9, the ranking's "GFLOPs"
    mparams: float  # parameters / 1e6
    true_gmacs: float  # torch.utils.flop_counter FLOPs / 2 / 1e9
    input_size: int

    @property
    def cost(self) -> float:
        """The architecture-only factor of the score: GFLOPs x MParams."""
        return self.gflops * self.mparams

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def score_of(cost: float, px_error: float) -> float:
    """The ranking score from the architecture's cost (GFLOPs x MParams) and an error in pixels: the
    one place the formula is written (trials, partial scores, the skip rule and the benchmarks)."""
    return cost * math.exp(px_error)


def score(gflops: float, mparams: float, px_error: float) -> float:
    """The ranking score, lower is better: GFLOPs x MParams x exp(mean pixel error)."""
    return score_of(gflops * mparams, px_error)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _probe(model: nn.Module, input_size: int) -> torch.Tensor:
    p = next(model.parameters())
    return torch.zeros(1, 3, input_size, input_size, dtype=p.dtype, device=p.device)


def thop_macs(model: nn.Module, input_size: int) -> int:
    """thop's multiply-accumulate count at batch 1 in eval mode (the model's mode is restored)."""
    was_training = model.training
    with contextlib.redirect_stdout(io.StringIO()):  # thop prints registration chatter
        macs, _ = thop.profile(model, inputs=(_probe(model, input_size),), verbose=False)
    model.train(was_training)
    return int(round(macs))


def torch_macs(model: nn.Module, input_size: int) -> int:
    """torch's FlopCounterMode FLOPs / 2 at batch 1 in eval mode."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(_probe(model, input_size))
    model.train(was_training)
    return counter.get_total_flops() // 2


def model_cost(model: nn.Module, input_size: int) -> Cost:
    return Cost(
        gflops=thop_macs(model, input_size) / 1e9,
        mparams=param_count(model) / 1e6,
        true_gmacs=torch_macs(model, input_size) / 1e9,
        input_size=input_size,
    )


def count_cost(arch: ArchConfig) -> Cost:
    """Cost of the architecture at its deployed input size (builds a fresh CPU model)."""
    from nas.model.network import build_model  # local: cost depends on the model, never the reverse

    return model_cost(build_model(arch, seed=0), arch.input_size)
