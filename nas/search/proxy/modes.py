"""How a trial estimates its candidate's error (`proxy: mode:` in the space file), a registry:

- scratch: train the candidate from scratch with the proxy recipe (`nas.search.proxy.scratch`).
- supernet: slice it out of the study's shared parent (`nas.search.proxy.supernet`), recalibrate its
  BatchNorm, optionally fine-tune it for `proxy: finetune_epochs` (pruned per epoch like a scratch
  trial), then validate. The parent is trained once, on first use, by whichever worker gets there
  first.

Both return a `CandidateResult`, so the objective records every trial alike.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import optuna

from nas.data.dataset import KeypointDataset
from nas.model.arch import ArchConfig
from nas.model.cost import Cost
from nas.model.network import build_model
from nas.search.checks import WithinEpochChecks
from nas.search.proxy.scratch import CandidateResult, evaluate_candidate
from nas.search.proxy.supernet import ParentStore, SharedParent, child_for
from nas.search.space import SearchSpace
from nas.training.evaluation import evaluate
from nas.training.recipe import TrainConfig
from nas.training.trainer import EpochStats, TrainResult, train

__all__ = ["Proxy", "ScratchProxy", "SupernetProxy", "make_proxy"]

OnEpoch = Callable[[EpochStats], None]
OnStep = Callable[[int, int], None]
OnCheck = Callable[[int, float], None]  # (report step, px error) of a check within an epoch


class Proxy(Protocol):
    mode: str

    def evaluate(self, arch: ArchConfig, recipe: TrainConfig, cost: Cost, on_epoch: OnEpoch | None,
                 on_step: OnStep | None, on_check: OnCheck | None = None) -> CandidateResult: ...


@dataclasses.dataclass
class ScratchProxy:
    """Trains the candidate from scratch; with `on_check`, also validates it `checks_per_epoch - 1`
    times within each epoch on the first `check_images` validation images (`nas.search.checks`)."""

    train_data: KeypointDataset
    val_data: KeypointDataset
    checks_per_epoch: int = 1
    check_images: int = 512
    mode: str = "scratch"

    def evaluate(self, arch, recipe, cost, on_epoch, on_step, on_check=None) -> CandidateResult:
        model = build_model(arch, seed=recipe.seed)
        if on_check is not None and self.checks_per_epoch > 1:
            on_step = WithinEpochChecks(model, self.val_data, self.check_images, recipe.loss, arch.input_size,
                                        self.checks_per_epoch, on_check, on_step, recipe.eval_batch_size)
        return evaluate_candidate(arch, recipe, self.train_data, self.val_data, cost, on_epoch, on_step, model)


@dataclasses.dataclass
class SupernetProxy:
    space: SearchSpace
    store: ParentStore
    train_data: KeypointDataset
    val_data: KeypointDataset
    device: str
    seed: int
    on_status: Callable[[str], None] | None = None
    mode: str = "supernet"
    parents: dict[str, SharedParent] = dataclasses.field(default_factory=dict)

    def parent(self, backbone: str) -> SharedParent:
        if backbone not in self.parents:
            self.parents[backbone] = self.store.get(self.space, backbone, self.train_data, self.device, self.seed,
                                                    self.on_status)
        return self.parents[backbone]

    def evaluate(self, arch, recipe, cost, on_epoch, on_step, on_check=None) -> CandidateResult:
        parent = self.parent(arch.backbone)
        t0 = time.perf_counter()
        device = next(parent.model.parameters()).device
        train_d, val_d = self.train_data.to(device), self.val_data.to(device)
        model = child_for(parent, arch, train_d, self.space.supernet.bn_images)
        epochs = self.space.proxy.finetune_epochs
        if epochs:
            tuned = dataclasses.replace(recipe, epochs=epochs, memory_format=parent.memory_format)
            own = train_d.subset(slice(0, self.space.proxy.train_images))  # the scratch proxy's images
            result = train(model, own, val_d, tuned, arch.input_size, on_epoch, on_step)
        else:
            result = _validated(model, val_d, recipe, arch.input_size / val_d.size, parent.memory_format, t0)
        return CandidateResult(arch, recipe, cost, result, estimate=val_d.size != arch.input_size)


def _validated(model, val: KeypointDataset, recipe: TrainConfig, px_scale: float, fmt: str, t0: float) -> TrainResult:
    """The validation of an inherited child, as a training result of zero epochs."""
    m = evaluate(model, val, recipe.loss, recipe.eval_batch_size, px_scale)
    return TrainResult(m.px_error, m.pck, m.auc, float("nan"), 0, 0.0, time.perf_counter() - t0, px_scale, fmt,
                       state_dict={})


def make_proxy(space: SearchSpace, study: optuna.Study, train_data: KeypointDataset, val_data: KeypointDataset, *,
               device: str, seed: int, storage_url: str | None, artifacts_dir: Path | None = None,
               on_status: Callable[[str], None] | None = None) -> Proxy:
    """The proxy the space's `proxy: mode` names (`nas.search.space.PROXY_MODES`), for one worker."""
    builders: dict[str, Callable[[], Proxy]] = {
        "scratch": lambda: ScratchProxy(train_data, val_data, space.search.checks_per_epoch,
                                        space.search.check_images),
        "supernet": lambda: SupernetProxy(space, ParentStore(study, storage_url, artifacts_dir), train_data,
                                          val_data, device, seed, on_status),
    }
    return builders[space.proxy.mode]()
