"""Full retraining of one picked architecture, resumable after any finished epoch.

Output folder:
    checkpoint.pt     weights (last and best) + architecture + recipe + data + epoch + optimizer,
                      scheduler and generator state; rewritten atomically after every epoch
    arch.yaml         the architecture file the run trains (for reference)
    metrics.json      GFLOPs, MParams, true GMACs, test px error, PCK@0.2, AUC 0-30 px, score, ...
    curves.html       loss / validation px error / learning rate per epoch
    predictions.png   test images with predicted (red) and true (green) keypoints and skeletons

Rerunning on the same folder resumes after the last finished epoch (or only rewrites the outputs
when training already finished); a folder holding a different run is refused unless `restart`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from nas.data import load_splits
from nas.data.dataset import KeypointDataset
from nas.data.spec import DataSpec
from nas.deploy.init import InitialWeights
from nas.deploy.pictures import curves_html, keypoint_grid, write_png
from nas.deploy.spec import ArchSpec
from nas.errors import ConfigError
from nas.io import write_json_atomic
from nas.model.cost import count_cost, score
from nas.model.network import build_model
from nas.model.slicing import load_sliced
from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nas.training.device import resolve_recipe
from nas.training.evaluation import keypoint_distances, predict_keypoints, scaled_metrics
from nas.training.recipe import RUNTIME_FIELDS
from nas.training.trainer import EpochStats, TrainState, train

__all__ = ["RetrainHooks", "RetrainResult", "retrain", "evaluate_test", "write_outputs", "CHECKPOINT", "METRICS"]

CHECKPOINT, METRICS, CURVES, GRID, ARCH = "checkpoint.pt", "metrics.json", "curves.html", "predictions.png", "arch.yaml"
_GRID_IMAGES = 16


class RetrainHooks(Protocol):
    def data(self, done: int, total: int) -> None: ...
    def start(self, first_epoch: int, epochs: int) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def step(self, done: int, total: int) -> None: ...


@dataclass
class RetrainResult:
    out_dir: Path
    metrics: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


# --- the run's identity (a resume must match it) ------------------------------------------------
def _identity(spec: ArchSpec, data: DataSpec) -> dict[str, Any]:
    recipe = {k: v for k, v in spec.recipe.to_dict().items() if k not in RUNTIME_FIELDS}
    return {"arch": spec.arch.to_dict(), "recipe": recipe, "data": data.to_dict(), "start": {"init": spec.init}}


def _check_same_run(ckpt: Checkpoint, spec: ArchSpec, data: DataSpec, path: Path) -> None:
    old = _identity(ArchSpec(ckpt.arch, ckpt.recipe, init=str(ckpt.source.get("init", "scratch"))),
                    DataSpec(**ckpt.data))
    new = _identity(spec, data)
    diffs = [f"{part}.{k}: {old[part].get(k)!r} -> {new[part].get(k)!r}"
             for part in new for k in sorted(set(old[part]) | set(new[part])) if old[part].get(k) != new[part].get(k)]
    if diffs:
        raise ConfigError(f"{path} holds a different run ({'; '.join(diffs[:3])}); "
                          "pass --restart to start over there, or choose another --out")


def _resume_state(path: Path, spec: ArchSpec, data: DataSpec, restart: bool) -> TrainState | None:
    if restart or not path.exists():
        return None
    ckpt = load_checkpoint(path)
    _check_same_run(ckpt, spec, data, path)
    return ckpt.state


# --- evaluation and outputs ---------------------------------------------------------------------
def evaluate_test(spec: ArchSpec, test: KeypointDataset, model: nn.Module) -> tuple[dict[str, Any], torch.Tensor]:
    """Cost and test metrics of `model` (best weights loaded) from one pass over the test set, and the
    per-keypoint distances of that pass (the prediction picture shows them, not recomputes them)."""
    device = next(model.parameters()).device
    test_d = test.to(device)
    dists, norms = keypoint_distances(model, test_d, spec.recipe.loss, spec.recipe.eval_batch_size)
    m = scaled_metrics(dists, norms, test_d.visibility)
    original_px = None  # the same error in original-image pixels: distances / each sample's resize scale
    if test_d.scale is not None:
        original_px = scaled_metrics(dists, norms, test_d.visibility, 1 / test_d.scale).px_error
    cost = count_cost(spec.arch)
    return {
        "gflops": cost.gflops, "mparams": cost.mparams, "true_gmacs": cost.true_gmacs,
        "test_px_error": m.px_error, "test_pck": m.pck, "test_auc": m.auc,
        "test_px_error_original": original_px,  # datasets only
        "score": score(cost.gflops, cost.mparams, m.px_error),
    }, dists.cpu()


def _run_metrics(spec: ArchSpec, data: DataSpec, state: TrainState, test: dict[str, Any]) -> dict[str, Any]:
    """metrics.json: what was trained, on what, the test metrics and the training history."""
    r = state.result
    return {
        "arch": spec.arch.to_dict(), "recipe": spec.recipe.to_dict(), "data": data.to_dict(), "source": spec.source,
        **test,
        "val_px_error": r.px_error, "best_epoch": r.best_epoch, "epochs": state.epoch,
        "train_seconds": r.train_seconds, "images_per_s": r.images_per_s, "history": [asdict(h) for h in r.history],
    }


def _prediction_grid(spec: ArchSpec, test: KeypointDataset, model: nn.Module, dists: torch.Tensor) -> np.ndarray:
    k = min(_GRID_IMAGES, len(test))
    model.eval()
    with torch.no_grad():
        pred = predict_keypoints(model, test.images[:k].to(next(model.parameters()).device), spec.recipe.loss).cpu()
    vis = test.visibility[:k].numpy() > 0
    per_image = [float(dists[i][vis[i]].mean()) if vis[i].any() else math.nan for i in range(k)]
    return keypoint_grid(test.images[:k].numpy(), test.keypoints[:k].numpy(), test.visibility[:k].numpy(),
                         pred.numpy(), per_image)


def write_outputs(out: Path, spec: ArchSpec, metrics: dict[str, Any], state: TrainState, test: KeypointDataset,
                  model: nn.Module, dists: torch.Tensor) -> dict[str, Path]:
    """metrics.json, curves.html and predictions.png in `out`."""
    title = f"{spec.arch.short()} @ {spec.arch.input_size}px: test {metrics['test_px_error']:.2f} px"
    return {
        "metrics": write_json_atomic(out / METRICS, metrics),
        "curves": curves_html(out / CURVES, state.result.history, title),
        "predictions": write_png(out / GRID, _prediction_grid(spec, test, model, dists)),
    }


# --- the run ------------------------------------------------------------------------------------
def _train(spec: ArchSpec, data: DataSpec, model: nn.Module, splits: tuple[KeypointDataset, ...], ckpt_path: Path,
           resume: TrainState | None, hooks: RetrainHooks | None,
           on_checkpoint: Callable[[int], None] | None) -> TrainState:
    """Train (or finish training) with a checkpoint after every epoch; the last state."""
    last = [resume]

    def keep(state: TrainState) -> None:
        save_checkpoint(ckpt_path, Checkpoint(spec.arch, spec.recipe, state, data.to_dict(),
                                              {**spec.source, "init": spec.init}))
        last[0] = state
        if on_checkpoint is not None:
            on_checkpoint(state.epoch)

    train(model, splits[0], splits[1], spec.recipe, spec.arch.input_size, on_epoch=hooks.epoch if hooks else None,
          on_step=hooks.step if hooks else None, resume=resume, on_state=keep)
    return last[0]  # type: ignore[return-value]  # set by an epoch, or the complete run resumed


def retrain(
    spec: ArchSpec,
    data: DataSpec,
    out_dir: str | Path,
    restart: bool = False,
    cache_dir: str | Path | None = None,
    hooks: RetrainHooks | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
    init: InitialWeights | None = None,
) -> RetrainResult:
    """Train `spec` fully on `data`, resuming from `out_dir/checkpoint.pt` when it holds the same run.
    A new run starts from `init` (sliced to the architecture; `nas.deploy.init.initial_weights` for
    `spec.init`), else from scratch.

    Raises ConfigError when the folder holds a different run (unless `restart`), TrainingDiverged
    when the loss becomes NaN/inf (the last good checkpoint stays). The checkpoint and metrics.json
    record the recipe with its memory format resolved (the layout this run trains in); arch.yaml
    keeps the file's recipe as given.
    """
    out = Path(out_dir)
    resume = _resume_state(out / CHECKPOINT, spec, data, restart)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(out / ARCH)
    spec = replace(spec, recipe=resolve_recipe(spec.recipe))
    splits = load_splits(data, spec.arch.input_size, cache_dir, None if hooks is None else hooks.data)
    model = build_model(spec.arch, seed=spec.recipe.seed)
    if init is not None and resume is None:
        load_sliced(model, init.tensors, init.partial)
    if hooks:
        hooks.start((resume.epoch if resume else 0) + 1, spec.recipe.epochs)
    state = _train(spec, data, model, splits, out / CHECKPOINT, resume, hooks, on_checkpoint)
    model.load_state_dict(state.result.state_dict)
    test_metrics, dists = evaluate_test(spec, splits[2], model)
    metrics = {**_run_metrics(spec, data, state, test_metrics), "init": init.label if init else spec.init}
    files = write_outputs(out, spec, metrics, state, splits[2], model, dists)
    return RetrainResult(out, metrics, {**files, "checkpoint": out / CHECKPOINT, "arch": out / ARCH})
