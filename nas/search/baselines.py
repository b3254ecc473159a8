"""The baselines: fixed points of the search, so every study ranks its samples against them. They
are the hand-designed models of the course report this project starts from, and the space's
cheapest architecture (`space_cheapest`): what a user gets without a search by taking the smallest
model, which the score (cost x exp(error)) favours; a study's pick is worth having only below it.

Their published cost beside ours at 224 px:

    MobileNetV2 + full head        1.031 GFLOPs / 4.152 M          -> ours 0.924 / 3.125
    MobileNetV3-small + full head  0.474 / 2.585                   -> ours 0.626 / 2.502
    reduced MobileNetV3-small      0.3026 / 2.008 (285.6 score)    -> ours 0.346 / 1.689

The "full head" is the report's: one residual block plus one [1x1 -> dw -> 1x1] block (depth 2) at
512 channels; the report trained with 7 augmented copies.

Every baseline trains with one budget, the report's 7 augmented passes brought into the range the
space's trials draw from (`baseline_multiplier`): the baselines differ from each other in
architecture only, and none trains longer than a candidate can.
"""
from __future__ import annotations

from typing import Any

import optuna

from nas.model.arch import ArchConfig
from nas.model.cost import count_cost
from nas.search.space import SearchSpace

__all__ = ["SEED_BASELINES", "CHEAPEST", "REPORT_MULTIPLIER", "baseline_multiplier", "cheapest_params",
           "cheapest_arch", "enqueue_baselines", "seed_params"]

CHEAPEST = "space_cheapest"
REPORT_MULTIPLIER = 7  # the course report's augmented passes per epoch: the baselines' training budget

SEED_BASELINES: dict[str, dict[str, Any]] = {
    "seed_mobilenetv2_full": dict(
        backbone="mobilenetv2", backbone_width=1.0, head_depth=2, head_width=2.0
    ),
    "seed_mobilenetv3_small_full": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=2.0
    ),
    "seed_mobilenetv3_small_reduced": dict(
        backbone="mobilenetv3_small", backbone_width=1.0, head_depth=2, head_width=1.25
    ),
}


def baseline_multiplier(space: SearchSpace) -> int:
    """The augmentation multiplier every baseline trains with: the report's 7 brought into the range
    the space's trials draw from."""
    r = space.aug_range()
    return min(max(REPORT_MULTIPLIER, r.low), r.high)


def cheapest_params(space: SearchSpace) -> dict[str, Any]:
    """The trial parameters of the space's cheapest architecture: every architecture dimension at its
    low end, the backbone whose model costs less there, trained with the baselines' multiplier (the
    multiplier is a training budget, not architecture: it changes no cost)."""
    c = space.choices
    low = dict(backbone_width=c.backbone_width.low, head_depth=c.head_depth.low, head_width=c.head_width.low)
    backbone = min(c.backbone, key=lambda b: count_cost(ArchConfig(b, **low, input_size=space.input_size)).cost)
    return dict(backbone=backbone, **low, aug_multiplier=baseline_multiplier(space))


def seed_params(name: str, space: SearchSpace) -> dict[str, Any]:
    """The trial parameters of the course report's model `name` in `space`: its architecture as
    published, trained with the baselines' multiplier."""
    return dict(SEED_BASELINES[name], aug_multiplier=baseline_multiplier(space))


def cheapest_arch(space: SearchSpace) -> ArchConfig:
    """The space's cheapest architecture (`cheapest_params`), deployed at the space's input size."""
    params = {k: v for k, v in cheapest_params(space).items() if k != "aug_multiplier"}
    return ArchConfig(**params, input_size=space.input_size)


def enqueue_baselines(study: optuna.Study, space: SearchSpace, repeats: int = 0) -> None:
    """Enqueue the baselines once per study (by name: a second call is a no-op): the course
    report's models, then the space's cheapest architecture; then the first `repeats` of them once
    more as repeats (user attribute `repeat: 1`), also once per study.

    Course models whose backbone the space excludes are left out; their architecture values outside a
    narrowed space are used as given: they are fixed reference points, not samples. All train with one
    multiplier (`baseline_multiplier`), so they differ in architecture only. A repeat
    trains the same architecture with another seed, so its error differs from its baseline's by the
    proxy's seed noise (`nas.search.noise`); it is not a candidate of its own. Call under the study's
    storage lock.
    """
    allowed = {name: seed_params(name, space) for name, params in SEED_BASELINES.items()
               if params["backbone"] in space.choices.backbone}
    allowed[CHEAPEST] = cheapest_params(space)
    # present by name, not by parameters: a study begun before a change of its baselines' parameters
    # (their multiplier brought into the space's) is not given a second set on resuming
    present = {(t.user_attrs.get("baseline"), t.user_attrs.get("repeat")) for t in study.get_trials(deepcopy=False)}
    for name, params in allowed.items():
        if (name, None) not in present:
            study.enqueue_trial(params, user_attrs={"baseline": name})
    for name, params in list(allowed.items())[:repeats]:
        if (name, 1) not in present:
            study.enqueue_trial(params, user_attrs={"baseline": name, "repeat": 1})
