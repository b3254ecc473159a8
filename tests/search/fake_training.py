"""A stand-in for the proxy training that replays fixed per-epoch errors, so the objective, the
pruner and the worker loop can be checked on exact numbers without training anything."""
from __future__ import annotations

from collections.abc import Callable

from nas.search.proxy.scratch import CandidateResult
from nas.training.trainer import EpochStats, TrainResult

# one fixed architecture (cost is the same for every trial) with a 2-epoch proxy; the pruner is the
# most aggressive one: after the 3 start-up trials, a trial worse at an epoch than the best is pruned
FIXED_SPACE = {
    "space": {"backbone": ["mobilenetv3_small"], "backbone_width": 0.25, "head_width": 0.125, "head_depth": 1,
              "aug_multiplier": 1},
    "input_size": 64,
    "proxy": {"train_size": 64, "epochs": 2, "train_images": 48, "val_images": 16, "batch_size": 16},
    "search": {"startup_trials": 1, "prune_percentile": 0.0, "prune_warmup_epochs": 1},
}


def replay(histories: list[list[float]], before_epoch: Callable[[], None] | None = None):
    """An `evaluate_candidate` whose n-th call reports the errors of histories[n], one per epoch."""
    calls = iter(histories)

    def evaluate_candidate(arch, recipe, train_data, val_data, cost, on_epoch=None, on_step=None, model=None):
        errors = next(calls)
        stats = [EpochStats(epoch=e, train_loss=1.0, px_error=err, pck=0.5, auc=0.5, lr=1e-3, images_per_s=1.0,
                            seconds=0.1) for e, err in enumerate(errors, start=1)]
        for s in stats:
            if before_epoch is not None:
                before_epoch()
            on_epoch(s)
        best = min(stats, key=lambda s: s.px_error)
        result = TrainResult(px_error=best.px_error, pck=best.pck, auc=best.auc, loss=1.0, best_epoch=best.epoch,
                             images_per_s=1.0, train_seconds=0.2, px_scale=1.0, history=stats)
        return CandidateResult(arch, recipe, cost, result, estimate=False)

    return evaluate_candidate
