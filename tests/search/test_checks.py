"""Partial scores within an epoch on a real tiny training: when they are reported, and that the
pruner can stop a trial between them."""
from __future__ import annotations

from optuna.trial import TrialState
from test_study import SPACE

from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.search import open_study, parse_space, run_study
from nas.search.checks import WithinEpochChecks, check_step
from nas.training.recipe import TrainConfig
from nas.training.trainer import train


def test_checks_fall_at_even_fractions_of_each_epoch(tiny_data):
    train_d, val_d = tiny_data  # 96 images, batch 16: 6 steps per epoch
    model = build_model(ArchConfig("mobilenetv3_small", 0.25, 1, 0.125, input_size=64), seed=0)
    seen: list[tuple[int, float]] = []
    calls: list[tuple[int, int]] = []
    checks = WithinEpochChecks(model, val_d, 8, "dsnt", 64, 3, lambda s, e: seen.append((s, e)),
                               inner=lambda d, t: calls.append((d, t)))
    result = train(model, train_d, val_d, TrainConfig(epochs=2, batch_size=16, device="cpu"), on_step=checks)
    assert [s for s, _ in seen] == [1, 2, 4, 5]  # steps 2 and 4 of 6 in each epoch; 3 and 6 are the epochs' ends
    assert len(calls) == 12  # the caller's own callback still sees every step
    assert all(0 < e < 200 for _, e in seen) and len({e for _, e in seen}) == 4  # real, changing errors
    assert result.history[-1].epoch == 2 and check_step(2, 3) == 6


def test_a_real_study_reports_checks_and_prunes_between_epochs(tiny_data, tmp_path):
    space = parse_space({**SPACE, "proxy": {**SPACE["proxy"], "epochs": 2, "train_images": 96},
                         "search": {"startup_trials": 1, "prune_percentile": 0.0, "prune_warmup_epochs": 0,
                                    "checks_per_epoch": 3, "check_images": 16}}, "checks")
    study = open_study("c", f"sqlite:///{tmp_path / 's.db'}", "score", space)
    run_study(study, space, *tiny_data, trials=8, device="cpu", skip_hopeless=False, baselines=False)
    trials = study.get_trials()
    first = next(t for t in trials if t.state == TrialState.COMPLETE)
    assert sorted(first.intermediate_values) == [1, 2, 3, 4, 5, 6]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    # the most aggressive pruner (best so far) on 8 draws: some stop, and never at the last report
    assert pruned and all(max(t.intermediate_values) < 6 for t in pruned)
    assert all(t.user_attrs["pruned_at_epoch"] < 2 for t in pruned)
