"""The skip audit's replay on recorded trials shaped like the 224 px GPU study: the audit must catch
the first form of the rule throwing the winner away, and find no false skip of the sound rule."""
from __future__ import annotations

import json
import random
import subprocess
import sys

from common.benchmarks import TrialRecord
from common.replay import BASELINES, RULES, Recorded, audit, from_records, margin_rows, replay, replay_rows

from tests.conftest import ROOT

# the baselines (cheapest first to finish, the course report's models slower) and candidates whose
# errors really differ: the best is a mid-cost model at 25.2 px
GPU_LIKE = [
    Recorded(1.0, 47.7, 11.0, baseline=True),  # the space's cheapest
    Recorded(300.0, 26.7, 60.0, baseline=True),  # the course report's final model
    Recorded(900.0, 27.0, 80.0, baseline=True),
    Recorded(2400.0, 26.5, 120.0, baseline=True),
    Recorded(40.0, 25.2, 30.0),  # the study's best: 40 x e^25.2 is far below everything else
    Recorded(60.0, 28.0, 35.0),
    Recorded(120.0, 30.0, 40.0),
    Recorded(5.0, 45.0, 15.0),
    Recorded(3000.0, 33.0, 150.0),
]


def test_the_first_rule_throws_the_winner_away_and_the_later_ones_do_not():
    caught = audit(GPU_LIKE, RULES["first"](1.0, 3), workers=8, orders=200)
    assert caught["false_skips"] > 0 and caught["decisive"] >= caught["false_skips"]  # the power to see it
    for rule in (RULES["sound"](1.0, 1), RULES["sound"](1.0, 3), RULES["cost_peers"](1.0, 3)):
        for workers in (1, 8):
            for baselines in BASELINES:
                row = audit(GPU_LIKE, rule, workers, orders=200, baselines=baselines)
                assert row["false_skips"] == 0 and row["decisions"] == 200 * 5
                assert row["decisive"] == 200  # the best candidate beats every baseline: each replay could fail


def test_peers_trained_fewer_passes_threw_a_winner_away_until_the_rule_left_them_out():
    """The second recorded 224 px study's shape: dear models trained one pass ended far above a small
    one trained three; as evidence about it they made the rule's second form skip the study's winner."""
    trials = [Recorded(0.05, 39.5, 10.0, aug=3),  # the winner
              *(Recorded(c, e, 5.0, aug=1) for c, e in [(0.1, 46.4), (0.5, 47.0), (2.0, 46.0)]),
              Recorded(0.01, 41.5, 5.0, aug=3)]  # the best of the moment, when it completes first
    caught = audit(trials, RULES["cost_peers"](1.0, 1), workers=1, orders=200, baselines="none")
    assert caught["false_skips"] > 0
    for peers in (1, 3):
        assert audit(trials, RULES["sound"](1.0, peers), workers=1, orders=200, baselines="none")["false_skips"] == 0


def test_where_a_baseline_is_best_no_decision_could_fail_but_without_baselines_they_can():
    """The recorded CPU studies' shape: baselines trained longer than the candidates beat them all, so
    a skip there cannot be a false one (decisive 0, though candidates beat the best of their moment);
    left out, the candidates' own best is at stake in every replay, and a rule that skips everything
    dearer than the cheapest is caught."""
    trials = [Recorded(1.0, 30.0, 5.0, baseline=True), Recorded(0.01, 55.0, 1.0, baseline=True),
              Recorded(0.5, 40.0, 10.0), Recorded(2.0, 39.0, 20.0), Recorded(0.2, 45.0, 5.0)]
    greedy = lambda done, cand: bool(done) and cand.cost > min(d.cost for d in done)  # noqa: E731
    with_them = audit(trials, greedy, workers=1, orders=50, baselines="anywhere")
    assert with_them["decisive"] == 0 and with_them["at_risk"] > 0 and with_them["false_skips"] == 0
    without = audit(trials, greedy, workers=1, orders=50, baselines="none")
    assert without["trials"] == 3 and without["decisions"] == 150 and without["decisive"] >= 50
    assert without["false_skips"] > 0


def test_a_replay_judges_a_trial_by_what_was_complete_when_it_started():
    # one worker, no jitter on the order: the cheap loser is judged after the dear one completed
    trials = [Recorded(100.0, 10.0, 1.0), Recorded(50.0, 11.0, 1.0), Recorded(1.0, 30.0, 1.0)]
    seen = []

    def rule(done, cand):
        seen.append((sorted(d.cost for d in done), cand.cost))
        return False

    class Fixed(random.Random):
        def shuffle(self, x):  # keep the given order
            return None

    r = replay(trials, rule, 1, Fixed(0))
    assert [len(d) for d, _ in seen] == [0, 1, 2] and r.skipped == 0 and r.judged == 3


def test_saved_training_counts_the_skipped_trials_seconds():
    trials = [Recorded(1.0, 10.0, 10.0, baseline=True), Recorded(5.0, 20.0, 30.0)]
    row = audit(trials, lambda done, cand: cand.cost > 2.0, workers=1, orders=3)
    assert row["skipped"] == 3 and row["false_skips"] == 0 and row["saved_seconds_share"] == 0.75


def test_rows_cover_every_rule_worker_count_and_order():
    rows = replay_rows(GPU_LIKE, 1.0, 3, orders=5)
    assert {(r["rule"], r["workers"], r["baselines"]) for r in rows} == {
        (rule, w, b) for rule in RULES for w in (1, 8) for b in ("first", "anywhere", "none")}
    assert set(RULES) == {"sound", "cost_peers", "first"}
    assert all(r["margin_px"] == 1.0 and r["min_peers"] == 3 for r in rows)
    no_baselines = [Recorded(1.0, 3.0, 1.0), Recorded(2.0, 2.0, 1.0)]
    assert {r["baselines"] for r in replay_rows(no_baselines, 1.0, 3, orders=2)} == {"none"}
    recs = [TrialRecord(end_s=5.0, start_s=1.0, state="COMPLETE", score=1.0, cost=2.0, px_error=3.0),
            TrialRecord(end_s=6.0, state="PRUNED", score=None)]
    assert from_records(recs) == [Recorded(2.0, 3.0, 4.0)]


def test_a_study_where_only_baselines_completed_is_not_replayed(tmp_path):
    """Baselines are never skipped, so such a replay has no decision that could catch a false skip;
    it writes no line claiming a clean audit."""
    from skip_audit import replay_all

    def line(study, number, baseline, cost, px):
        return {"figure": "trial", "study": study, "date": "2026-12-05", "number": number, "state": "COMPLETE",
                "arch": f"a{number}", "aug": 1, "baseline": baseline, "cost": cost, "px_error": px,
                "train_seconds": 10.0, "device": "cpu", "size_px": 224}

    src = tmp_path / "trials.jsonl"
    lines = [line("only-baselines", 0, "space_cheapest", 0.01, 55.0), line("only-baselines", 1, "seed_x", 1.0, 34.0),
             line("mixed", 0, "space_cheapest", 0.01, 55.0), line("mixed", 1, "", 1.0, 34.0)]
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "audit.jsonl"
    replay_all([src], out, orders=3)
    studies = {json.loads(x)["study"] for x in out.read_text().splitlines()}
    assert studies == {"trials.jsonl:mixed:2026-12-05"}


def test_the_margin_sweep_finds_the_margin_a_studys_errors_need():
    """A small model 1.65 px below the only dearer one (the 224 px study's shape): a 1 px margin throws
    it away when it starts last, a 2 px margin does not; the sweep runs without the baselines (one peer
    enough here: with three it would have none to be judged by)."""
    trials = [Recorded(0.4, 38.35, 10.0), Recorded(1.0, 40.0, 10.0), Recorded(0.25, 39.4, 10.0),
              Recorded(0.01, 55.0, 1.0, baseline=True)]
    rows = {(r["margin_px"], r["workers"]): r for r in margin_rows(trials, 1, orders=60, margins=(1.0, 2.0))}
    assert set(rows) == {(1.0, 1), (1.0, 8), (2.0, 1), (2.0, 8)}
    assert all(r["baselines"] == "none" and r["trials"] == 3 and r["rule"] == "sound" for r in rows.values())
    assert rows[1.0, 1]["false_skips"] > 0 and rows[2.0, 1]["false_skips"] == rows[2.0, 8]["false_skips"] == 0


def test_save_refuses_to_record_the_smoke_size_before_any_work(tmp_path, cli_env):
    """Its figures mean nothing: --save records only the sizes whose files the results page reads."""
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "skip_audit.py"), "--steps", "record", "--size", "smoke",
                        "--save"], env=cli_env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2 and "--save records only the sizes cpu, cpu224" in r.stderr.splitlines()[-1]
    assert r.stdout == "" and not (ROOT / "docs" / "results" / "skip-audit-study-smoke.jsonl").exists()
