"""The study library in-process on tiny real data: objectives, skipping, failures, baselines."""
from __future__ import annotations

import math
from dataclasses import replace

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

import nas.search.proxy.modes as proxies_mod
import nas.search.workers.runner as runner_mod
from nas.errors import StudyError, TrainingDiverged
from nas.model.cost import count_cost
from nas.search import SEED_BASELINES, enqueue_baselines, finished_count, open_study, parse_space, run_study
from nas.search.baselines import CHEAPEST, cheapest_arch, cheapest_params
from nas.search.sampling import arch_from_params, suggest_params

SPACE = {
    "space": {"backbone": ["mobilenetv3_small"], "backbone_width": {"low": 0.25, "high": 0.5, "step": 0.05},
              "head_width": {"low": 0.125, "high": 0.25, "step": 0.125}, "head_depth": {"low": 1, "high": 2},
              "aug_multiplier": {"low": 1, "high": 1}},
    "input_size": 64,
    "proxy": {"train_size": 64, "epochs": 1, "train_images": 48, "val_images": 16, "batch_size": 16},
    "search": {"startup_trials": 1},
}


@pytest.fixture()
def space():
    return parse_space(SPACE, "test")


@pytest.fixture()
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 's.db'}"


def _no_baselines(monkeypatch):
    monkeypatch.setattr(runner_mod, "enqueue_baselines", lambda study, space, repeats=0: None)


def test_pareto_objective_stores_three_values(space, storage, tiny_data, monkeypatch):
    _no_baselines(monkeypatch)
    st = open_study("p", storage, "pareto", space)
    run_study(st, space, *tiny_data, trials=2, device="cpu")
    done = st.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2
    for t in done:
        assert t.values == pytest.approx([t.user_attrs["gflops"], t.user_attrs["mparams"], t.user_attrs["px_error"]])
    with pytest.raises(StudyError, match="created with --objective pareto"):
        open_study("p", storage, "score", space)


def test_diverged_trial_is_failed_with_reason_and_the_study_goes_on(space, storage, tiny_data, monkeypatch):
    _no_baselines(monkeypatch)
    real = proxies_mod.evaluate_candidate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TrainingDiverged("training loss became nan at epoch 1, step 0")
        return real(*args, **kwargs)

    monkeypatch.setattr(proxies_mod, "evaluate_candidate", flaky)
    st = open_study("d", storage, "score", space)
    run_study(st, space, *tiny_data, trials=2, device="cpu")
    failed = st.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and failed[0].user_attrs["reason"].startswith("diverged: training loss became nan")
    assert finished_count(st) == 2  # failures do not count towards --trials


def test_skip_before_training_when_cost_cannot_win(space, storage, tiny_data, monkeypatch):
    _no_baselines(monkeypatch)
    st = open_study("s", storage, "score", space)
    # a stored trial with a tiny cost and a low error, and three dearer models than any candidate, trained
    # as long as any (multiplier 7), that ended high: every real candidate has its peers, and none of them
    # reached an error that could win
    st.add_trial(optuna.trial.create_trial(
        params={}, distributions={}, value=1e-9,
        user_attrs={"score": 1e-9, "px_error": 1.0, "cost": 1e-9 / math.e},
    ))
    for cost in (1e6, 2e6, 3e6):
        st.add_trial(optuna.trial.create_trial(
            params={"aug_multiplier": 7}, distributions={"aug_multiplier": IntDistribution(1, 7)},
            value=cost * math.exp(30.0), user_attrs={"score": cost * math.exp(30.0), "px_error": 30.0, "cost": cost},
        ))
    run_study(st, space, *tiny_data, trials=5, device="cpu")
    pruned = st.get_trials(states=(TrialState.PRUNED,))
    assert len(pruned) == 1
    attrs = pruned[0].user_attrs
    assert attrs["skipped"] is True and attrs["reason"].startswith("skipped before training: the 3 complete trials")
    assert "train_seconds" not in attrs and "gflops" in attrs
    # the same history in a space with the skip off (the 224 px spaces): the candidate trains
    off = parse_space({**SPACE, "search": {**SPACE.get("search", {}), "pre_train_skip": False}})
    st_off = open_study("s-off", storage, "score", off)
    for t in st.get_trials()[:4]:
        st_off.add_trial(t)
    run_study(st_off, off, *tiny_data, trials=5, device="cpu")
    (trained,) = st_off.get_trials()[4:]
    assert trained.state == TrialState.COMPLETE and not trained.user_attrs.get("skipped")


def test_baselines_enqueued_once_and_marked(space, storage):
    full = parse_space({**SPACE, "space": {**SPACE["space"], "backbone": ["mobilenetv2", "mobilenetv3_small"]}})
    st = open_study("b", storage, "score", full)
    enqueue_baselines(st, full)
    enqueue_baselines(st, full)
    waiting = st.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["baseline"] for t in waiting) == sorted([*SEED_BASELINES, CHEAPEST])
    # a space without MobileNetV2 leaves its baseline out
    st2 = open_study("b2", storage, "score", space)
    enqueue_baselines(st2, space)
    names = {t.user_attrs["baseline"] for t in st2.get_trials(states=(TrialState.WAITING,))}
    assert names == {"seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced", CHEAPEST}


@pytest.mark.parametrize("low, high, aug", [(1, 8, 7), (1, 2, 2), (8, 8, 8)])
def test_every_baseline_trains_one_multiplier_the_space_allows_the_course_models_their_architecture(
        storage, low, high, aug):
    # the report's 7 passes are a training budget: a space that narrows the multiplier trains its baselines
    # within it, as its candidates, all with the same one (the cheapest too: it differs from the course
    # models in architecture only), while their widths stay the published ones even outside the space's
    space = parse_space({**SPACE, "space": {**SPACE["space"], "aug_multiplier": {"low": low, "high": high}}})
    st = open_study(f"aug{low}{high}", storage, "score", space)
    enqueue_baselines(st, space)
    waiting = st.get_trials(states=(TrialState.WAITING,))
    seeds = {t.user_attrs["baseline"]: t.system_attrs["fixed_params"] for t in waiting}
    assert sorted(seeds) == sorted(["seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced", CHEAPEST])
    assert {params["aug_multiplier"] for params in seeds.values()} == {aug}
    reduced = seeds["seed_mobilenetv3_small_reduced"]
    assert reduced["backbone_width"] == 1.0 > space.choices.backbone_width.high and reduced["head_width"] == 1.25


def test_a_study_begun_with_other_baseline_parameters_gets_no_second_set(space, storage):
    # a study whose course models were enqueued at 7 passes before they were brought into its 1-1 range
    st = open_study("old", storage, "score", space)
    old = {**SEED_BASELINES["seed_mobilenetv3_small_reduced"], "aug_multiplier": 7}
    st.enqueue_trial(old, user_attrs={"baseline": "seed_mobilenetv3_small_reduced"})
    enqueue_baselines(st, space)
    names = [t.user_attrs["baseline"] for t in st.get_trials(states=(TrialState.WAITING,))]
    assert sorted(names) == ["seed_mobilenetv3_small_full", "seed_mobilenetv3_small_reduced", CHEAPEST]


def test_the_cheapest_baseline_is_the_spaces_low_corner_on_the_cheaper_backbone():
    space = parse_space({"space": {"backbone": ["mobilenetv2", "mobilenetv3_small"], "aug_multiplier": {"low": 2,
                         "high": 5}, "backbone_width": {"low": 0.5, "high": 1.0, "step": 0.05},
                         "head_width": {"low": 0.25, "high": 1.0, "step": 0.125}, "head_depth": {"low": 2, "high": 3}},
                         "input_size": 64}, "corner")
    params = cheapest_params(space)
    assert params == dict(backbone=params["backbone"], backbone_width=0.5, head_depth=2, head_width=0.25,
                          aug_multiplier=5)  # the baselines' 7, brought into the 2-5 range
    other = "mobilenetv2" if params["backbone"] == "mobilenetv3_small" else "mobilenetv3_small"
    assert count_cost(cheapest_arch(space)).cost < count_cost(replace(cheapest_arch(space), backbone=other)).cost
    # no architecture drawn from the space costs less
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        arch = arch_from_params(suggest_params(study.ask(), space), space)
        assert count_cost(arch).cost >= count_cost(cheapest_arch(space)).cost
