"""The pre-training skip rule on the cases that broke its first form: a cheap trial's error used as
evidence about much larger models while the larger baselines were still training; a model trained
fewer passes as evidence about one trained more; one or two models as enough evidence."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from nas.model.cost import count_cost, score_of
from nas.search.baselines import cheapest_arch
from nas.search.skip import Scored, evidence, skip_reason
from nas.search.space import load_space
from tests.conftest import ROOT

MARGIN, PEERS = 2.0, 3  # default.yaml's


def _old_rule_skips(done: list[Scored], cost: float, margin: float) -> bool:
    """The first form of the rule (lowest error of any complete trial): what the GPU study ran."""
    best = min(d.score for d in done)
    return score_of(cost, max(0.0, min(d.px_error for d in done) - margin)) >= best


@pytest.fixture(scope="module")
def default_costs():
    space = load_space(ROOT / "search_spaces" / "default.yaml")
    return count_cost(cheapest_arch(space)).cost


def _study_with(trials: list[tuple[TrialState, float, float]], aug: int = 1) -> optuna.Study:
    """A study holding (state, cost, px error) trials at multiplier `aug`; running ones carry no result yet."""
    study = optuna.create_study()
    for state, cost, px in trials:
        done = state == TrialState.COMPLETE
        attrs = {"cost": cost, **({"px_error": px, "score": score_of(cost, px)} if done else {})}
        study.add_trial(optuna.trial.create_trial(
            state=state, value=score_of(cost, px) if done else None, user_attrs=attrs,
            params={"aug_multiplier": aug}, distributions={"aug_multiplier": IntDistribution(1, 7)}))
    return study


@pytest.mark.parametrize("factor", [50, 100, 200])
def test_cheapest_complete_at_47_7_px_does_not_skip_a_larger_model(default_costs, factor):
    """The 224 px GPU study: the cheapest finished first at 47.7 px while the course report's models
    (about 26-27 px when they finished) were still running; candidates 50-200x its cost train."""
    cheapest = default_costs
    study = _study_with([(TrialState.COMPLETE, cheapest, 47.7), (TrialState.RUNNING, 300 * cheapest, 0.0),
                         (TrialState.RUNNING, 2400 * cheapest, 0.0)])
    cost = factor * cheapest
    assert _old_rule_skips([Scored(cheapest, 47.7)], cost, MARGIN)  # the case could fail: the old rule skipped it
    done = evidence(study.get_trials(states=(TrialState.COMPLETE,)))
    for peers in (1, PEERS):  # not by the peer count alone: with one peer enough it trains too
        assert skip_reason(done, cost, MARGIN, aug=1, min_peers=peers) is None


def test_skips_when_several_larger_models_trained_as_long_ended_too_high():
    """Where the evidence supports it the rule still skips: three larger models at 29.5-31 px and a cheap
    best at 20 px; a candidate between them would need to end below 20 - ln(its cost ratio)."""
    peers = [Scored(100.0, 30.0), Scored(200.0, 31.0), Scored(300.0, 29.5)]
    done = [Scored(1.0, 20.0), *peers]
    reason = skip_reason(done, 10.0, MARGIN, aug=1, min_peers=PEERS)
    assert reason is not None and "the 3 complete trials costing at least its 10" in reason
    assert skip_reason(done[:-1], 10.0, MARGIN, aug=1, min_peers=PEERS) is None  # two peers: not enough
    # it needs to end below 20 - ln 10 = 17.70 px; a larger model that reached 19 px (within the margin): trains
    assert skip_reason([*done, Scored(50.0, 19.0)], 10.0, MARGIN, aug=1, min_peers=PEERS) is None
    assert skip_reason([*done, Scored(50.0, 19.8)], 10.0, MARGIN, aug=1, min_peers=PEERS) is not None


def test_models_trained_fewer_passes_are_no_evidence_about_one_trained_more():
    done = [Scored(1.0, 20.0, aug=3), Scored(100.0, 30.0), Scored(200.0, 31.0), Scored(300.0, 29.5)]
    assert skip_reason(done, 10.0, MARGIN, aug=1, min_peers=PEERS) is not None  # peers trained as long: skips
    assert skip_reason(done, 10.0, MARGIN, aug=2, min_peers=PEERS) is None  # each peer trained 1 pass, it 2
    longer = [done[0], *(Scored(d.cost, d.px_error, aug=2) for d in done[1:])]
    assert skip_reason(longer, 10.0, MARGIN, aug=2, min_peers=PEERS) is not None


def test_evidence_reads_each_trials_multiplier():
    study = _study_with([(TrialState.COMPLETE, 5.0, 30.0), (TrialState.RUNNING, 9.0, 0.0)], aug=3)
    assert evidence(study.get_trials(states=(TrialState.COMPLETE,))) == [Scored(5.0, 30.0, aug=3)]


def test_never_skips_a_candidate_cheaper_than_the_best_trial():
    done = [Scored(cost, px) for cost, px in [(1.0, 40.0), (20.0, 25.0), (500.0, 26.0)]]
    best = min(done, key=lambda d: d.score)
    for cost in [best.cost * f for f in (0.01, 0.1, 0.5, 0.99)]:
        for margin in (0.0, 1.0, 3.0):
            assert skip_reason(done, cost, margin, aug=1, min_peers=1) is None


def test_order_of_completion_does_not_matter_for_a_dearer_candidate():
    """Whatever subset of the trials has completed, a candidate dearer than all of them trains."""
    trials = [Scored(c, px) for c, px in [(1.0, 47.7), (300.0, 26.7), (2400.0, 27.0), (40.0, 25.2)]]
    for mask in range(1, 16):
        done = [t for i, t in enumerate(trials) if mask >> i & 1]
        assert skip_reason(done, max(t.cost for t in done) * 1.01, MARGIN, aug=1, min_peers=1) is None


def test_margin_and_errors_enter_as_the_score_does():
    done = [Scored(1.0, 10.0), Scored(10.0, 10.0 + math.log(10.0) + 0.5)]
    # candidate of cost 5: needs error < 10 - ln 5 = 8.39; its peer's floor 12.80 - margin decides
    assert skip_reason(done, 5.0, 4.0, aug=1, min_peers=1) is not None
    assert skip_reason(done, 5.0, 4.5, aug=1, min_peers=1) is None
