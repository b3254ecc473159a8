"""bench/gpu_evidence.py end to end at its tiny size on the CPU (the code path of the 224 px GPU run):
the study through the CLI, the retrains with one recipe and several seeds, the fidelity figure, and
lines a skip audit can replay."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types

from common.evidence import Retrained
from gpu_evidence import SIZES, Evidence, pick_goal
from skip_audit import recorded_studies

from nas.model.arch import ArchConfig
from tests.conftest import ROOT


def test_the_tiny_run_writes_every_figure(tmp_path, cli_env):
    out = tmp_path / "lines.jsonl"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_evidence.py"), "--size", "tiny", "--device", "cpu",
                        "--out", str(out), "--work", str(tmp_path / "work")], env=cli_env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    figures = [x["figure"] for x in lines]
    trials = [x for x in lines if x["figure"] == "trial"]
    cfg = SIZES["tiny"]
    assert len(trials) >= cfg.trials and {x["baseline"] for x in trials} >= {"space_cheapest"}
    assert all(x["cost"] > 0 and x["device"] == "cpu" and x["size_px"] == 64 for x in trials)
    retrains = [x for x in lines if x["figure"] == "retrain"]
    roles = {x["role"] for x in lines if x["figure"] == "trivial"}
    assert roles == {"pick", "cheapest", "course_report", "random1"}
    assert len(retrains) == cfg.seeds * len({x["arch"] for x in lines if x["figure"] == "trivial"})
    assert figures.index("study") < figures.index("retrain") < figures.index("trivial_goal") < figures.index("fidelity")
    fidelity = next(x for x in lines if x["figure"] == "fidelity")
    assert fidelity["n"] == len({x["arch"] for x in retrains}) and "cost_only_kendall_tau_error" in fidelity
    assert fidelity["left_out"] == []  # no stop at this size: every retrained architecture has its proxy error
    # every proxy error at one budget: a study trial counts only at the retrain recipe's multiplier (the
    # pick's trial drew another here, baselines train 7 passes), else the architecture is trained at it
    assert fidelity["proxy_aug"] == cfg.recipe["aug_multiplier"] == 1
    at_budget = {x["arch"] for x in trials if x["state"] == "COMPLETE" and x["aug"] == 1}
    pick = next(x["arch"] for x in lines if x["figure"] == "trivial" and x["role"] == "pick")
    assert set(fidelity["proxy_from_study"]) <= at_budget and pick not in at_budget
    assert pick in fidelity["archs"] and pick not in fidelity["proxy_from_study"]
    assert all(x["commit"] and x["command"].startswith("python bench/gpu_evidence.py") for x in lines)
    # the skip audit reads the study back: one recorded study of its complete, distinct trials
    (study,) = recorded_studies([out]).values()
    assert 0 < len(study[0]) <= len(trials)


def test_the_goal_is_missed_by_a_tie_and_met_only_below_every_other_role():
    cheap = ArchConfig("mobilenetv3_small", 0.25, 1, 0.125)
    other = ArchConfig("mobilenetv2", 1.0, 2, 2.0)
    roles = {"pick": cheap, "cheapest": cheap, "course_report": other}
    tie = pick_goal({"pick": 5.0, "cheapest": 5.0, "course_report": 9.0}, roles)
    assert not tie["met"] and tie["not_beaten"] == ["cheapest"] and tie["pick_is"] == ["cheapest"]
    roles["pick"] = ArchConfig("mobilenetv3_small", 0.5, 1, 0.25)
    won = pick_goal({"pick": 4.0, "cheapest": 5.0, "course_report": 9.0}, roles)
    assert won["met"] and won["beaten"] == ["cheapest", "course_report"]


def _cut_short(runs_by_role: dict[str, list[int]]) -> list[dict]:
    """The lines `Evidence.trivial` writes for retrains that ended at these seeds, per role."""
    run = Evidence.__new__(Evidence)
    run.cfg, lines = SIZES["gpu"], []
    run.emit = lambda figure, **values: lines.append({"figure": figure, **values})
    archs = {"pick": ArchConfig("mobilenetv3_small", 0.5, 1, 0.25),
             "cheapest": ArchConfig("mobilenetv3_small", 0.25, 1, 0.125),
             "course_report": ArchConfig("mobilenetv3_small", 1.0, 2, 1.25)}
    runs = {role: [Retrained(role, archs[role].short(), s, score=10.0 * (s + 1) * (1 + i), px_error=30.0 + s + i,
                             gflops=0.1, mparams=1.0, seconds=1.0) for s in seeds]
            for i, (role, seeds) in enumerate(runs_by_role.items())}
    run.trivial(archs, runs)
    return lines


def test_retrains_cut_short_are_compared_over_the_seeds_every_role_has():
    lines = _cut_short({"pick": [0, 1], "cheapest": [0, 1, 2], "course_report": [0, 1]})
    trivial = {x["role"]: x for x in lines if x["figure"] == "trivial"}
    assert {x["seeds"] for x in trivial.values()} == {2} and trivial["pick"]["seeds_planned"] == 3
    assert trivial["cheapest"]["mean_px"] == 31.5  # seeds 0 and 1 only: its seed 2 (33 px) left out
    goal = next(x for x in lines if x["figure"] == "trivial_goal")
    assert goal["seeds"] == 2 and goal["met"]
    noise = next(x for x in lines if x["figure"] == "retrain_noise")  # the seed noise uses every retrain
    assert noise["groups"] == 3 and noise["repeats"] == 7


def test_no_seed_shared_by_every_role_measures_nothing():
    lines = _cut_short({"pick": [0], "cheapest": [0], "course_report": []})
    assert [x["figure"] for x in lines] == ["trivial_goal"] and lines[0]["goal"].startswith("not measured")


def test_fidelity_trains_the_missing_proxies_only_while_the_longest_would_end_before_its_stop(monkeypatch):
    import gpu_evidence
    from common import evidence

    clock = types.SimpleNamespace(now=0.0)
    clock.perf_counter = lambda: clock.now
    monkeypatch.setattr(gpu_evidence, "time", clock)
    monkeypatch.setattr(evidence, "time", clock)

    def trained(arch, *_):  # 10 s of training on the fake clock, error = the backbone's width
        clock.now += 10.0
        return [arch.backbone_width]

    monkeypatch.setattr(gpu_evidence, "proxy_errors", trained)
    monkeypatch.setattr(gpu_evidence, "load_for_space", lambda *_: None)
    run = Evidence.__new__(Evidence)
    run.cfg, run.device = dataclasses.replace(SIZES["tiny"], fidelity_stop_s=25.0), "cpu"
    run.space = types.SimpleNamespace(proxy=types.SimpleNamespace(train_images=8, val_images=8, train_size=64),
                                      data=types.SimpleNamespace(seed=0))
    run.load = lambda: types.SimpleNamespace(get_trials=lambda deepcopy: [])
    archs = [json.dumps(ArchConfig("mobilenetv3_small", w, 1, 0.25).to_dict(), sort_keys=True)
             for w in (0.25, 0.5, 1.0)]
    found, from_study = run.proxy_errors({a: [30.0] for a in archs})
    # the first at 0 s (nothing measured yet), the second at 10 (ends at 20 < 25), not the third at 20
    assert sorted(found.values()) == [0.25, 0.5] and from_study == set() and clock.now == 20.0
