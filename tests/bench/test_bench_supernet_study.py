"""bench_supernet_study's figures on fixed errors (no training): the trivial baselines' goal, the
recipe's noise and where the pick ranks among every architecture trained with the shared recipe."""
from __future__ import annotations

import math

import bench_supernet_study as bss

from nas.model.arch import ArchConfig
from nas.model.cost import count_cost

CHEAP = ArchConfig("mobilenetv3_small", 0.25, 1, 0.125, input_size=64)
MID = ArchConfig("mobilenetv3_small", 0.5, 2, 0.5, input_size=64)
BIG = ArchConfig("mobilenetv2", 1.0, 2, 1.0, input_size=64)


def _lines(by_role, errors):
    return {(x["figure"], x.get("role")): x for x in bss.trivial_lines(by_role, errors, {"epochs": 1})}


def test_a_pick_that_is_the_cheapest_ties_it_and_misses_the_goal():
    errors = {CHEAP: [10.0, 10.2, 10.4], MID: [9.0, 9.2, 9.4], BIG: [8.0, 8.1, 8.2]}
    lines = _lines({"pick": CHEAP, "cheapest": CHEAP, "course_report": BIG, "random1": MID}, errors)
    goal = lines["trivial_goal", None]
    assert goal["met"] is False and goal["beaten"] == ["random1"] and goal["not_beaten"] == ["cheapest"]
    assert lines["trivial", "cheapest"]["pick_over_this"] == 1.0 and lines["trivial", "pick"]["mean_px"] == 10.2
    mean_score = sum(count_cost(CHEAP).cost * math.exp(e) for e in errors[CHEAP]) / 3
    assert math.isclose(lines["trivial", "pick"]["mean_score"], mean_score, rel_tol=1e-5)
    noise = lines["retrain_noise", None]  # seed sd 0.2 (0.1 for BIG, pooled) against the spread of the means
    assert 0.15 < noise["seed_noise_px"] < 0.2 and noise["spread_px"] > 0.9 and noise["recipe"] == {"epochs": 1}
    assert noise["icc"] > 0.9  # means 10.2, 9.2, 8.1 against a seed sd of 0.1-0.2: the architecture decides


def test_a_pick_far_lower_in_error_beats_the_cheapest_and_the_random_ones():
    errors = {MID: [2.0, 2.1, 2.2], CHEAP: [10.0, 10.1, 10.2], BIG: [9.0, 9.1, 9.2]}
    goal = _lines({"pick": MID, "cheapest": CHEAP, "course_report": BIG, "random1": BIG}, errors)["trivial_goal", None]
    assert goal["met"] is True and goal["beaten"] == ["cheapest", "random1"] and goal["pick_over_course_report"] < 1


def test_the_pick_is_ranked_among_every_architecture_measured():
    errors = {CHEAP: [10.0], MID: [2.0], BIG: [9.0]}
    line = bss.best_measured(CHEAP, errors)
    assert line["archs"] == 3 and line["best_arch"] == MID.short() and line["pick_rank"] == 2
    expected = count_cost(CHEAP).cost * math.exp(10.0) / (count_cost(MID).cost * math.exp(2.0))
    assert math.isclose(line["pick_over_best"], round(expected, 3))
