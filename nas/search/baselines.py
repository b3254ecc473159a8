"""The baselines: the hand-designed models of the course report this project starts from, as fixed
points of the search, so every study ranks its samples against them.

Their published cost beside ours at 224 px:

    MobileNetV2 + full head        1.031 GFLOPs / 4.152 M          -> ours 0.924 / 3.125
    MobileNetV3-small + full head  0.474 / 2.585                   -> ours 0.626 / 2.502
    reduced MobileNetV3-small      0.3026 / 2.008 (285.6 score)    -> ours 0.346 / 1.689

The "full head" is the report's: one residual block plus one [1x1 -> dw -> 1x1] block (depth 2) at
512 channels; the report trained with 7 augmented copies.
"""
from __future__ import annotations

from typing import Any

import optuna

from nas.search.space import SearchSpace

__all__ = ["SEED_BASELINES", "enqueue_baselines"]

SEED_BASELINES: dict[str, dict[str, Any]] = {
    "seed_mobilenetv2_full": dict(
        backbone="mobilenetv2", backbone_width=1.0, head_depth=2, head_width=2.0, aug_multiplier=7
    ),
    "seed_mobilenetv3_small_full": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=2.0, aug_multiplier=7
    ),
    "seed_mobilenetv3_small_reduced": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=1.25, aug_multiplier=7
    ),
}


def enqueue_baselines(study: optuna.Study, space: SearchSpace) -> None:
    """Enqueue the baselines once per study (`skip_if_exists` makes a second call a no-op).

    Baselines whose backbone the space excludes are left out; numeric values outside a narrowed
    space are used as given: they are fixed reference points, not samples.
    """
    for name, params in SEED_BASELINES.items():
        if params["backbone"] not in space.choices.backbone:
            continue
        study.enqueue_trial(params, user_attrs={"baseline": name}, skip_if_exists=True)
