"""One candidate, end to end: build -> exact cost -> train -> score. Shared by `train` and the study."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from nas.data.dataset import KeypointDataset
from nas.model.arch import ArchConfig
from nas.model.cost import Cost, count_cost, score
from nas.model.network import build_model
from nas.training.device import resolve_recipe
from nas.training.recipe import TrainConfig
from nas.training.trainer import EpochStats, TrainResult, train

__all__ = ["CandidateResult", "evaluate_candidate"]


@dataclass
class CandidateResult:
    arch: ArchConfig
    recipe: TrainConfig
    cost: Cost
    training: TrainResult
    estimate: bool  # trained below the deployed input size: errors are scaled estimates

    @property
    def px_error(self) -> float:
        return self.training.px_error

    @property
    def score(self) -> float:
        return score(self.cost.gflops, self.cost.mparams, self.training.px_error)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able summary (what `handkp-search train --out` writes)."""
        t = self.training
        return {
            "arch": self.arch.to_dict(), "recipe": self.recipe.to_dict(), "cost": self.cost.to_dict(),
            "px_error": self.px_error, "px_error_is_estimate": self.estimate, "pck": t.pck, "auc": t.auc,
            "score": self.score, "best_epoch": t.best_epoch, "images_per_s": t.images_per_s,
            "train_seconds": t.train_seconds, "history": [vars(h) for h in t.history],
        }


def evaluate_candidate(
    arch: ArchConfig,
    recipe: TrainConfig,
    train_data: KeypointDataset,
    val_data: KeypointDataset,
    cost: Cost | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    model: nn.Module | None = None,
) -> CandidateResult:
    """Cost is counted at `arch.input_size`; training runs at the data's size, errors in target pixels.
    `model`: the candidate already built (`build_model(arch, seed=recipe.seed)`), for callers that
    watch it while it trains."""
    recipe = resolve_recipe(recipe)  # the result records the memory format that ran
    cost = cost or count_cost(arch)
    model = model if model is not None else build_model(arch, seed=recipe.seed)
    result = train(model, train_data, val_data, recipe, arch.input_size, on_epoch, on_step)
    return CandidateResult(arch, recipe, cost, result, estimate=train_data.size != arch.input_size)
