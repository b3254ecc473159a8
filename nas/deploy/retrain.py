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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from nas.data import load_splits
from nas.data.dataset import KeypointDataset
from nas.deploy.pictures import curves_html, keypoint_grid, write_png
from nas.deploy.spec import ArchSpec
from nas.errors import ConfigError
from nas.io import write_json_atomic
from nas.model.cost import count_cost, score
from nas.model.network import build_model
from nas.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from nas.training.device import resolve_device
from nas.training.evaluation import keypoint_distances, predict_keypoints, scaled_metrics
from nas.training.trainer import EpochStats, TrainState, train

__all__ = ["RetrainData", "RetrainHooks", "RetrainResult", "retrain", "summary_row", "CHECKPOINT", "METRICS"]

CHECKPOINT, METRICS, CURVES, GRID, ARCH = "checkpoint.pt", "metrics.json", "curves.html", "predictions.png", "arch.yaml"
# recipe fields that may change between an interrupted run and its resumption
_RUNTIME_FIELDS = ("device", "amp", "eval_batch_size")


@dataclass(frozen=True)
class RetrainData:
    """What a full training trains on: part of a checkpoint's identity (a resume must match)."""

    source: str = "synthetic"
    train_images: int = 20000
    val_images: int = 2000
    test_images: int = 2000
    seed: int = 0
    format: str = "auto"  # for a dataset path: auto | csv | freihand | coco | panoptic
    max_bad: float = 0.01

    def __post_init__(self) -> None:
        for name in ("train_images", "val_images", "test_images"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name}: {getattr(self, name)} must be >= 2")


class RetrainHooks(Protocol):
    def data(self, done: int, total: int) -> None: ...
    def start(self, first_epoch: int, epochs: int) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def step(self, done: int, total: int) -> None: ...


@dataclass
class RetrainResult:
    out_dir: Path
    metrics: dict[str, Any]
    resumed_from: int  # finished epochs found in the folder (0: a fresh run)
    files: dict[str, Path] = field(default_factory=dict)


def _identity(spec: ArchSpec, data: RetrainData) -> dict[str, Any]:
    recipe = {k: v for k, v in spec.recipe.to_dict().items() if k not in _RUNTIME_FIELDS}
    return {"arch": spec.arch.to_dict(), "recipe": recipe, "data": asdict(data)}


def _check_same_run(ckpt: Checkpoint, spec: ArchSpec, data: RetrainData, path: Path) -> None:
    old = _identity(ArchSpec(ckpt.arch, ckpt.recipe), RetrainData(**ckpt.data))
    new = _identity(spec, data)
    diffs = [f"{part}.{k}: {old[part].get(k)!r} -> {new[part].get(k)!r}"
             for part in new for k in sorted(set(old[part]) | set(new[part])) if old[part].get(k) != new[part].get(k)]
    if diffs:
        raise ConfigError(f"{path} holds a different run ({'; '.join(diffs[:3])}); "
                          "pass --restart to start over there, or choose another --out")


def _outputs(spec: ArchSpec, data: RetrainData, test: KeypointDataset, model, state: TrainState,
             out: Path, device: torch.device) -> tuple[dict[str, Any], dict[str, Path]]:
    recipe, result = spec.recipe, state.result
    cost = count_cost(spec.arch)
    model.load_state_dict(result.state_dict)
    test_d = test.to(device)
    dists, norms = keypoint_distances(model, test_d, recipe.loss, recipe.eval_batch_size)  # one pass, used thrice
    m = scaled_metrics(dists, norms, test_d.visibility)
    original_px = None  # the same error in original-image pixels: distances / each sample's resize scale
    if test_d.scale is not None:
        original_px = scaled_metrics(dists, norms, test_d.visibility, 1 / test_d.scale).px_error
    metrics = {
        "arch": spec.arch.to_dict(), "recipe": recipe.to_dict(), "data": asdict(data), "source": spec.source,
        "gflops": cost.gflops, "mparams": cost.mparams, "true_gmacs": cost.true_gmacs,
        "test_px_error": m.px_error, "test_pck": m.pck, "test_auc": m.auc,
        "test_px_error_original": original_px,  # datasets only
        "score": score(cost.gflops, cost.mparams, m.px_error),
        "val_px_error": result.px_error, "best_epoch": result.best_epoch, "epochs": state.epoch,
        "train_seconds": result.train_seconds, "images_per_s": result.images_per_s,
        "history": [asdict(h) for h in result.history],
    }
    files = {"metrics": write_json_atomic(out / METRICS, metrics)}
    files["curves"] = curves_html(out / CURVES, result.history,
                                  f"{spec.arch.short()} @ {spec.arch.input_size}px: test {m.px_error:.2f} px")
    k = min(16, len(test))
    model.eval()
    with torch.no_grad():
        pred = predict_keypoints(model, test_d.images[:k], recipe.loss).cpu()
    d = dists[:k].cpu()  # their errors, already measured above
    vis = test.visibility[:k].numpy() > 0
    per_image = [float(d[i][vis[i]].mean()) if vis[i].any() else math.nan for i in range(k)]
    grid = keypoint_grid(test.images[:k].numpy(), test.keypoints[:k].numpy(), test.visibility[:k].numpy(),
                         pred.numpy(), per_image)
    files["predictions"] = write_png(out / GRID, grid)
    return metrics, files


def retrain(
    spec: ArchSpec,
    data: RetrainData,
    out_dir: str | Path,
    restart: bool = False,
    cache_dir: str | Path | None = None,
    hooks: RetrainHooks | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
) -> RetrainResult:
    """Train `spec` fully on `data`, resuming from `out_dir/checkpoint.pt` when it holds the same run.

    Raises ConfigError when the folder holds a different run (unless `restart`), TrainingDiverged
    when the loss becomes NaN/inf (the last good checkpoint stays).
    """
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    resume: TrainState | None = None
    if ckpt_path.exists() and not restart:
        ckpt = load_checkpoint(ckpt_path)
        _check_same_run(ckpt, spec, data, ckpt_path)
        resume = ckpt.state
    out.mkdir(parents=True, exist_ok=True)
    spec.save(out / ARCH)
    progress = None if hooks is None else hooks.data
    train_d, val_d, test_d = load_splits(data.source, data.train_images, data.val_images, data.test_images,
                                         spec.arch.input_size, data.seed, cache_dir, progress, fmt=data.format,
                                         max_bad=data.max_bad)
    device = resolve_device(spec.recipe.device)
    model = build_model(spec.arch, seed=spec.recipe.seed)
    first = (resume.epoch if resume else 0) + 1
    if hooks:
        hooks.start(first, spec.recipe.epochs)

    def save(state: TrainState) -> None:
        save_checkpoint(ckpt_path, Checkpoint(spec.arch, spec.recipe, state, asdict(data), spec.source))
        if on_checkpoint is not None:
            on_checkpoint(state.epoch)

    last = {"state": resume}

    def keep(state: TrainState) -> None:
        save(state)
        last["state"] = state

    train(model, train_d, val_d, spec.recipe, spec.arch.input_size,
          on_epoch=hooks.epoch if hooks else None, on_step=hooks.step if hooks else None,
          resume=resume, on_state=keep)
    metrics, files = _outputs(spec, data, test_d, model, last["state"], out, device)
    files["checkpoint"], files["arch"] = ckpt_path, out / ARCH
    return RetrainResult(out, metrics, resume.epoch if resume else 0, files)


def summary_row(metrics: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a metrics.json."""
    return {k: float(metrics[k]) for k in ("gflops", "mparams", "test_px_error", "test_pck", "test_auc", "score")}

