"""The evidence suite's retrains: run side by side in processes, they give what they give here."""
from __future__ import annotations

import pytest
from common.evidence import RetrainJob, retrain_many

from nas.data import DataSpec
from nas.model.arch import ArchConfig
from nas.training.recipe import full_recipe


@pytest.mark.slow  # make test-all; the suite stays under 6 minutes
def test_retrains_in_two_processes_match_the_same_retrain_here(tmp_path):
    arch = ArchConfig(backbone="mobilenetv3_small", backbone_width=0.25, head_depth=1, head_width=0.125,
                      input_size=64)
    recipe = full_recipe(aug_multiplier=1, epochs=1, batch_size=8, device="cpu")
    data = DataSpec(train_images=16, val_images=8, test_images=8, seed=3)
    jobs = [RetrainJob("a", arch, recipe, seed, data, tmp_path / "pool") for seed in (0, 1)]

    pooled = {r.seed: r for r in retrain_many(jobs, workers=2)}
    here = next(retrain_many(jobs[:1], workers=1))

    assert sorted(pooled) == [0, 1]  # every job once
    assert (tmp_path / "pool" / "a-seed1" / "metrics.json").is_file()
    # same seed, same numbers whatever the process layout (threads may reorder float sums slightly)
    assert abs(pooled[0].px_error - here.px_error) <= 1e-6 * here.px_error
    assert abs(pooled[0].px_error - pooled[1].px_error) > 1e-6 * here.px_error  # the seed reaches the child
