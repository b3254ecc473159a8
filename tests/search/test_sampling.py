"""Sampling: stepped floats are stored on their grid, and workers draw with different seeds."""
from __future__ import annotations

import optuna
import pytest

from nas.search import open_study, parse_space, sampler_seed, suggest_params
from nas.search.baselines import cheapest_params
from nas.search.sampling import on_grid

SPACE = {
    "space": {"backbone_width": {"low": 0.25, "high": 1.5, "step": 0.05},
              "head_width": {"low": 0.125, "high": 2.0, "step": 0.125}},
    "search": {"startup_trials": 5},
}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")  # ask() without optimize()
def test_stored_float_params_are_the_rounded_grid_values(tmp_path):
    space = parse_space(SPACE, "steps")
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = open_study("grid", url, "score", space)
    for _ in range(30):  # past the start-up trials: TPE's relative samples are rounded too
        trial = study.ask()
        p = suggest_params(trial, space)
        study.tell(trial, p["backbone_width"] * p["head_width"])
    stored = optuna.load_study(study_name="grid", storage=url).trials  # read back from the database
    steps = {"backbone_width": (0.25, 0.05), "head_width": (0.125, 0.125)}
    values = {name: [t.params[name] for t in stored] for name in steps}
    for name, (low, step) in steps.items():
        for v in values[name]:
            assert v == round(v, 6), (name, v)
            k = round((v - low) / step)
            assert v == round(low + k * step, 6), (name, v)
    assert len(set(values["backbone_width"])) > 5  # a real spread of samples, not one value


def test_on_grid_rounds_to_the_decimals_of_low_and_step():
    d = optuna.distributions.FloatDistribution(0.25, 1.5, step=0.05)
    assert on_grid(0.25 + 14 * 0.05, d) == 0.95 != 0.25 + 14 * 0.05
    assert on_grid(0.123 + 0.05, optuna.distributions.FloatDistribution(0.123, 0.973, step=0.05)) == 0.173
    free = optuna.distributions.FloatDistribution(0.0, 1.0)
    assert on_grid(1 / 3, free) == 1 / 3  # only stepped floats are rounded


def test_sampler_seeds_differ_per_worker_and_stay_put_for_a_lone_sqlite_process():
    sqlite, pg = "sqlite:///x.db", "postgresql+psycopg://u@h/db"
    assert sampler_seed(7, sqlite) == 7
    assert len({sampler_seed(7, pg, i) for i in range(4)}) == 4
    assert sampler_seed(7, pg) != 7  # another machine or process on a shared study: its own seed


@pytest.mark.parametrize("proxy, aug_range, drawn", [
    ({"mode": "scratch"}, (1, 8), None),  # the proxy trains with the multiplier: drawn over the range
    ({"mode": "supernet", "finetune_epochs": 1}, (1, 8), None),  # fine-tuning trains with it
    ({"mode": "supernet"}, (1, 8), {7}),  # a sliced child is only validated: the full recipe's 7 for all
    ({"mode": "supernet"}, (1, 3), {3}),  # ... brought into the space's range
])
def test_the_augmentation_multiplier_is_drawn_only_where_the_proxy_sees_it(proxy, aug_range, drawn):
    space = parse_space({"space": {"aug_multiplier": {"low": aug_range[0], "high": aug_range[1]}}, "proxy": proxy})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = {suggest_params(study.ask(), space)["aug_multiplier"] for _ in range(30)}
    assert values == drawn if drawn else len(values) > 3 and values <= set(range(aug_range[0], aug_range[1] + 1))
    assert cheapest_params(space)["aug_multiplier"] == min(7, aug_range[1])  # the baselines' budget, in range
