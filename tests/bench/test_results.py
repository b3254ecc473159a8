"""bench/results.py: docs/results.md rendered from raw benchmark lines, on real files in a tmp folder."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from results import ROOT, ResultsError, main, read_results, render

PROV = "transcribed from the README at commit 5af3ee1; raw output not kept"


def line(**fields) -> str:
    base = {"bench": "demo", "date": "2026-11-27", "machine": "2-core CPU, no GPU", "commit": "abc1234",
            "command": "bench/demo.py --size 64"}
    return json.dumps({**base, **fields})


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "render.jsonl").write_text(
        line(bench="render", title="Renderer speed", size_px=128, images_per_s=824, provenance=PROV) + "\n"
        + line(bench="render", title="Renderer speed", size_px=224, images_per_s=550, provenance=PROV,
             _key="a cache key for the script") + "\n")
    # raw text, so the number keeps the form it was written in
    (folder / "lr-screen.jsonl").write_text(
        '{"bench": "lr_screen", "date": "2026-11-29", "machine": "1 GPU", "commit": "def5678", '
        '"command": "bench/lr_screen.py --lr 2e-3", "lr": 2e-3, "score": 1.01e6, "caveats": "CPU-sized run"}\n'
        "\n")
    return folder


def test_both_files_become_sections_with_their_values_and_provenance(src, tmp_path):
    out = tmp_path / "results.md"
    assert main(["--src", str(src), "--out", str(out)]) == 0
    page = out.read_text()
    assert "## Renderer speed" in page and "## lr-screen" in page  # title, else the file name
    assert "| size_px | images_per_s |" in page and "| 128 | 824 |" in page and "| 224 | 550 |" in page
    assert "_key" not in page and "cache key" not in page  # fields starting with _ are for scripts
    assert f"- provenance: {PROV}" in page
    assert "- command: `bench/demo.py --size 64`" in page and "- machine: 2-core CPU, no GPU" in page
    assert "- command: `bench/lr_screen.py --lr 2e-3`" in page and "- date: 2026-11-29" in page
    assert "| 2e-3 | 1.01e6 |" in page  # numbers exactly as written, not 0.002 / 1010000.0
    assert "- caveat: CPU-sized run" in page
    assert page.index("## lr-screen") < page.index("## Renderer speed")  # files in name order
    assert main(["--src", str(src), "--out", str(out), "--check"]) == 0


def test_check_reports_a_stale_page_and_writes_nothing(src, tmp_path, capsys):
    out = tmp_path / "results.md"
    out.write_text("old\n")
    assert main(["--src", str(src), "--out", str(out), "--check"]) == 1
    assert out.read_text() == "old\n"
    assert "out of date" in capsys.readouterr().err


@pytest.mark.parametrize("bad, problem", [
    ('{"bench": "x", ', "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"bench": "x", "date": "d", "machine": "m", "commit": "c"}', "missing command"),
    ('{"bench": "x", "date": "d", "machine": "m", "commit": "c", "command": "c", "caveats": 3}', "caveats must be"),
])
def test_a_malformed_line_is_named_by_file_and_line(src, tmp_path, capsys, bad, problem):
    path = src / "render.jsonl"
    path.write_text(path.read_text() + bad + "\n")
    out = tmp_path / "results.md"
    assert main(["--src", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3: {problem}" in err
    assert not out.exists()  # nothing half written
    with pytest.raises(ResultsError, match=f"render.jsonl:3: {problem}"):
        read_results(src)


def test_an_empty_folder_or_file_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="no \\*.jsonl files"):
        read_results(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ResultsError, match="empty.jsonl: no result lines"):
        read_results(tmp_path)


def test_the_committed_results_page_is_up_to_date():
    """docs/results.md is what `make results` renders from docs/results/*.jsonl."""
    page = (ROOT / "docs" / "results.md").read_text()
    assert page == render(read_results(ROOT / "docs" / "results"))


def test_the_answers_table_says_what_is_unmeasured_and_flags_unkept_lines():
    from common.answers import QUESTIONS, answer_rows

    rows = answer_rows({})
    assert [q for q, *_ in rows] == list(QUESTIONS) and all(a == "not measured yet" for _, a, _, _ in rows)
    line = {"bench": "suite", "date": "2026-11-30", "machine": {"cores": 2}, "commit": "abc+uncommitted",
            "command": "x", "figure": "four_arms", "arm": "tpe_prune", "time_ratio_median": 0.4,
            "reached_share": 1.0, "seeds": 5}
    (row,) = [r for r in answer_rows({"suite-small": [line]}) if r[0].startswith("Is TPE faster")]
    assert row[1].startswith("yes: TPE + pruning reached plain Random's final best in 5 of 5 seeds")
    assert "2-core CPU" in row[2] and "[measured on uncommitted code]" in row[2]


def _ws(arm: str, size: str, tau: float, date: str, commit: str = "abc1234", **more) -> dict:
    return {"bench": "supernet", "date": date, "machine": {"cores": 2}, "commit": commit, "command": "x",
            "figure": "arm", "size": size, "arm": arm, "kendall_tau_error": tau, "kendall_tau_error_ci": [-0.5, 0.9],
            **more}


def test_weight_sharing_reports_both_variants_at_each_budget_never_a_best_of():
    from common.answers import weight_sharing_vs_scratch

    lines = [_ws("scratch", "small", -0.09, "2026-11-29"), _ws("supernet", "small", -0.12, "2026-11-29"),
             _ws("supernet_distill", "small", 0.64, "2026-11-29"), _ws("scratch", "long", -0.09, "2026-11-30"),
             _ws("supernet", "long", 0.64, "2026-11-30", commit="abc+uncommitted"),
             {**_ws("supernet_distill", "small", 0, "2026-12-01"), "figure": "arm_pair", "against": "scratch",
              "kendall_tau_error_difference": 0.73, "difference_ci": [0.17, 1.19]}]
    rows = weight_sharing_vs_scratch({"supernet": lines})
    answers = [a for a, _, _ in rows]
    assert len(rows) == 4  # both variants at both budgets, whichever ranked better at each
    assert answers[0].startswith("without distillation: Kendall tau on error -0.12 [-0.50, 0.90] vs scratch -0.09")
    assert answers[1].startswith("with distillation: Kendall tau on error 0.64") and "difference 0.73 [0.17, 1.19]" in \
        answers[1]
    assert "quick128.yaml" in rows[2][1] and "[measured on uncommitted code]" in rows[2][1]
    assert answers[3] == "with distillation: not measured"  # no line at that budget: said, not invented
    assert weight_sharing_vs_scratch({}) == []


def test_the_noise_answer_decides_from_the_icc_of_the_recorded_groups():
    from common.answers import seed_noise

    base = {"bench": "suite", "date": "2026-11-30", "machine": {"cores": 2}, "commit": "abc", "command": "x",
            "figure": "proxy_noise"}
    pure = {**base, "errors_by_arch": {"a": [15.5, 15.4, 15.6], "b": [15.45, 15.6, 15.5], "c": [15.6, 15.4, 15.5]},
            "snr": 2.5}  # the old ratio (across all trials) called this "separates"
    (row,) = seed_noise({"suite-small": [pure]})
    assert row[0].startswith("proxy: no: intraclass correlation") and "said it separates" in row[0]
    apart = {**base, "errors_by_arch": {"a": [10.0, 10.1], "b": [20.0, 20.1], "c": [30.0, 30.2]}, "snr": 50}
    (row,) = seed_noise({"suite-small": [apart]})
    assert row[0].startswith("proxy: yes: intraclass correlation 1.00") and "old ratio" not in row[0]


def test_the_skip_answer_sums_the_suites_latest_replays_per_rule():
    from common.answers import skip_safe

    def line(date, arm, seed, rule, workers, false_skips):
        return {"bench": "suite", "date": date, "machine": {"cores": 2}, "commit": "abc", "command": "x",
                "figure": "skip_replay", "arm": arm, "seed": seed, "rule": rule, "workers": workers, "trials": 10,
                "orders": 200, "decisions": 2000, "at_risk": 100, "false_skips": false_skips,
                "saved_seconds_share": 0.25 * workers, "px_error_range": [15.0 + seed, 15.5]}

    old = [line("2026-11-30", "random", 0, "sound", 1, 7)]  # an older run: not summed with the latest
    latest = [line("2026-12-04", arm, seed, rule, w, int(rule == "first"))
              for arm in ("random", "tpe") for seed in (0, 1) for rule in ("sound", "first") for w in (1, 2)]
    (row,) = skip_safe({"suite-small": old + latest})
    # lines replayed before the rule counted peers' multipliers and number say which rule they replayed
    assert row[0].startswith("the rule's second form (peers by cost alone, one enough), replayed before it changed: "
                             "0 false skips in 16000 decisions (800 trials at risk); it saved 25-50%")
    assert row[0].endswith("first form on the same replays: 8 false skips")
    assert "the suite's 4 runs" in row[1] and "errors [15.0, 16.0] px" in row[1] and "workers 1, 2" in row[1]


def test_the_skip_answer_reads_a_studys_replays_with_and_without_its_baselines_apart():
    """Where a baseline is the study's best, the replays with it have no decision that could fail:
    the row says so (0 could have failed) instead of mixing them with the replays that could."""
    from common.answers import skip_safe

    def line(rule, baselines, decisive):
        return {"bench": "skip_audit", "date": "2026-12-05", "machine": {"cores": 2}, "commit": "abc", "command": "x",
                "figure": "skip_replay", "study": "s.jsonl:s:1", "device": "cpu", "size_px": 224, "rule": rule,
                "workers": 1, "baselines": baselines, "trials": 22 if baselines != "none" else 18, "orders": 200,
                "decisions": 3600, "decisive": decisive, "at_risk": 300, "false_skips": 3 * (rule == "cost_peers"),
                "saved_seconds_share": 0.1, "px_error_range": [35.7, 52.9], "margin_px": 2.0, "min_peers": 3}

    lines = [line(rule, b, 0 if b != "none" else 250) for rule in ("sound", "cost_peers", "first")
             for b in ("first", "anywhere", "none")]
    small = {**line("sound", "none", 40), "study": "t.jsonl:t:2", "size_px": 64, "decisions": 1000, "false_skips": 1,
             "saved_seconds_share": 0.3}
    total_224, total_64, with_them, without, _ = skip_safe({"skip-audit": [*lines, small]})
    # the rule's lines of every study of a size summed first (the earlier forms' false skips not among them)
    assert total_224[0].startswith("all studies together: 0 false skips in 10800 decisions, 250 of them decisive")
    assert "224 px proxies, 1 recorded study, each" in total_224[1]
    assert total_64[0].startswith("all studies together: 1 false skips in 1000 decisions, 40 of them decisive")
    assert total_64[0].endswith("it saved 30% of the training seconds") and "64 px proxies" in total_64[1]
    assert with_them[0].startswith("0 false skips in 7200 decisions (margin 2 px, 3 peers) (0 of them could have")
    assert with_them[0].endswith("Its second form (peers by cost alone, one enough) on the same replays: 6 false "
                                 "skips. Its first form on the same replays: 0 false skips")
    assert "22 recorded trials with its baselines" in with_them[1]
    assert without[0].startswith("0 false skips in 3600 decisions (margin 2 px, 3 peers) (250 of them could")
    assert "18 recorded trials without baselines" in without[1] and "224 px proxies" in without[1]
    assert "it saved 10% of the training seconds" in without[0]  # one figure where every replay saved alike


def test_the_margin_answer_is_the_smallest_margin_clean_at_and_above_it():
    """A clean margin below a failing one does not count: the answer is the margin from which every
    swept margin had no false skip."""
    from common.answers import skip_margin

    def line(margin, workers, false_skips, saved):
        return {"bench": "skip_audit", "date": "2026-12-05", "machine": {"cores": 2}, "commit": "abc", "command": "x",
                "figure": "skip_margin", "study": "s.jsonl:s:1", "device": "cpu", "size_px": 224, "rule": "sound",
                "margin_px": margin, "workers": workers, "baselines": "none", "trials": 18, "orders": 200,
                "false_skips": false_skips, "saved_seconds_share": saved}

    fails = {1.0: 5, 2.0: 0, 3.0: 1, 4.0: 0, 5.0: 0}
    lines = [line(m, w, f * (w == 8), 0.3 / m / w) for m, f in fails.items() for w in (1, 8)]
    (row,) = skip_margin({"skip-audit": lines})
    assert row[0].startswith("4 px (no false skip at it or above); it saves 1-8% of the training seconds there")
    assert row[0].endswith("At 1 px: 5 false skips, 4-30% of the training seconds saved")
    assert "18 recorded trials without baselines" in row[1] and "workers 1, 8" in row[1]
    lines = [line(m, 1, 1, 0.1) for m in fails]
    assert skip_margin({"skip-audit": lines})[0][0].startswith("none of the swept margins")


def test_every_flagged_line_is_marked_in_its_table_and_listed_with_who_cites_it(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "render.jsonl").write_text(line(bench="render", size_px=128, images_per_s=824, provenance=PROV) + "\n")
    (folder / "suite-small.jsonl").write_text(
        line(bench="suite", commit="abc+uncommitted", figure="four_arms", arm="tpe_prune", time_ratio_median=0.4,
             reached_share=1.0, seeds=5, date="2026-11-30") + "\n"
        + line(bench="suite", figure="arm", candidates_in_budget=345, kendall_tau_score=0.9, date="2026-11-29") + "\n")
    results = read_results(folder)
    page = render(results)
    assert "| flag | size_px | images_per_s |" in page and "| transcribed, no raw output kept | 128 | 824 |" in page
    assert "| flag | figure | arm | time_ratio_median |" in page  # the uncommitted line's table
    assert "| figure | candidates_in_budget (estimate) | kendall_tau_score |" in page  # a clean table: no flag
    assert "`candidates_in_budget` is an estimate, not a count" in page and "`kendall_tau_score` is mostly cost" in page
    flagged = page[page.index("## Lines without raw output"):page.index("## Sections")]
    assert "| [render.jsonl](results/render.jsonl) | 2026-11-27, abc1234 | 1 | transcribed, no raw output kept | " \
           "nothing |" in flagged
    assert "answers: Is TPE faster than random search?" in flagged  # cited by the answers table
    assert "(1 line(s), 1 flagged)" in page


def test_the_224_px_evidence_is_answered_per_device_each_scoped_by_its_own_lines():
    from common.answers import pick_vs_trivial, proxy_rank

    def line(stem_device, figure, **more):
        machine = {"gpu": "NVIDIA H200"} if stem_device == "cuda" else {"cores": 2}
        return {"bench": "gpu_evidence", "date": "2026-12-05", "machine": machine, "commit": "abc", "command": "x",
                "device": stem_device, "size": "gpu" if stem_device == "cuda" else "cpu224", "input_px": 224,
                "size_px": 224, "figure": figure, **more}

    goal = {"met": False, "beaten": ["random1"], "not_beaten": ["cheapest"]}
    fid = {"kendall_tau_error": 0.5, "kendall_tau_error_ci": [0.1, 0.9], "cost_only_kendall_tau_error": 0.2, "n": 6}
    r = {"gpu-evidence": [line("cuda", "trivial_goal", **goal), line("cuda", "fidelity", **fid)],
         "evidence-224-cpu": [line("cpu", "trivial_goal", **{**goal, "met": True, "not_beaten": []}),
                              line("cpu", "fidelity", **fid, proxy_aug=1)]}
    r["gpu-evidence"] += [line("cuda", "trivial", role="random1", pick_over_this=0.0123),
                          line("cuda", "trivial", role="cheapest", pick_over_this=1.5)]
    gpu, cpu = pick_vs_trivial(r)[:2]
    assert gpu[0] == ("no: below random1 (0.012x); not below cheapest (1.5x) (in brackets the pick's mean score "
                      "over the role's)")
    assert "NVIDIA H200, 224 px" in gpu[1] and "--size gpu" in gpu[1]
    assert cpu[0].startswith("yes") and "2-core CPU, 224 px" in cpu[1] and "evidence-224-cpu.jsonl" in cpu[2]
    # every run is answered, newest first, each with its time: one run's verdict alone would hide the others'
    earlier = line("cpu", "trivial_goal", **goal) | {"date": "2026-12-04T10:00:00"}
    rows = pick_vs_trivial({**r, "evidence-224-cpu": [earlier, *r["evidence-224-cpu"]]})
    assert [x[0][:3] for x in rows[1:3]] == ["yes", "no:"] and "2026-12-04 10:00" in rows[2][1]
    gpu, cpu = proxy_rank(r)
    assert "--size gpu" in gpu[1] and "--size cpu224" in cpu[1] and gpu[0].startswith("Kendall tau on error 0.50")
    # a run whose proxy errors were not all taken at one multiplier says so; one that was, nothing
    assert "mix training budgets" in gpu[0] and "budget" not in cpu[0]


def test_the_cost_or_error_answer_names_the_winner_of_each_studys_latest_run():
    from common.answers import cost_or_error

    def trial(date, baseline, arch, aug, cost, px, **more):
        return {"bench": "gpu_evidence", "date": date, "machine": {"cores": 2}, "commit": "abc", "command": "x",
                "figure": "trial", "size_px": 64, "input_px": 224, "state": "COMPLETE", "baseline": baseline,
                "arch": arch, "aug": aug, "cost": cost, "px_error": px, "score": cost * math.exp(px), **more}

    old = [trial("2026-12-01", "space_cheapest", "tiny", 1, 0.001, 10.0), trial("2026-12-01", "", "big", 1, 1.0, 9.0)]
    new = [trial("2026-12-05", "space_cheapest", "tiny", 1, 0.001, 50.0),
           trial("2026-12-05", "seed_x", "big", 7, 1.0, 30.0),
           trial("2026-12-05", "", "pruned", 1, 0.01, 1.0, state="PRUNED")]  # not complete: never the winner
    (row,) = cost_or_error({"evidence-224-cpu": old})
    assert row[0].startswith("cost: the cheapest scored best") and "errors 9.0-10.0 px" in row[0]
    (row,) = cost_or_error({"evidence-224-cpu": old + new})
    assert row[0].startswith("error: big (the baseline seed_x, aug 7) scored best; the cheapest (aug 1) 4.85e+05x")
    assert "errors 30.0-50.0 px" in row[0] and "2 complete trials" in row[1] and "64 px proxies" in row[1]
    assert cost_or_error({"evidence-224-cpu": new[1:]}) == []  # no cheapest baseline: nothing to compare
    # a skip-audit study recorded again (another sampler seed) is another study: both are answered
    again = [{**x, "sampler_seed": 1} for x in new]
    first, second = cost_or_error({"skip-audit-study-cpu224": old + again})
    assert first[0].startswith("cost:") and "2026-12-01" in first[1] and "sampler seed" not in first[1]
    assert second[0].startswith("error:") and "sampler seed 1, 2026-12-05" in second[1]


def test_the_evaluation_answer_reads_each_devices_latest_trainer_run_and_the_capture_only_where_measured():
    from common.answers import evaluation_share

    def line(device, date, share, **more):
        machine = {"gpu": "NVIDIA H200"} if device == "cuda" else {"cores": 2}
        return {"bench": "trainer_format", "date": date, "machine": machine, "commit": "abc", "command": "x",
                "device": device, "model": "m", "size_px": 224, "batch_size": 64, "eval_share_estimate": share, **more}

    older = line("cuda:0", "2026-12-01", 0.9, eval_graph_saves_estimate=0.5)
    before_arms = {k: v for k, v in older.items() if not k.startswith("eval")} | {"date": "2026-12-07"}
    r = {"trainer-format": [older, line("cuda:0", "2026-12-06", 0.12, eval_graph_saves_estimate=0.04,
                                       eval_bf16_graph_saves_estimate=0.06),
                            line("cpu", "2026-12-05", 0.2), before_arms]}  # a line without the arms: left out
    cuda, cpu = evaluation_share(r)
    assert cuda[0].endswith("m b64: 12% (eval_graph: on saves 4%, bfloat16 captured saves 6%)")
    assert "2026-12-06" in cuda[1]
    assert cpu[0].endswith("m b64: 20%") and "2-core CPU" in cpu[1]


def test_a_pick_verdict_over_fewer_seeds_than_planned_says_so():
    from common.answers import pick_vs_trivial

    base = {"bench": "gpu_evidence", "size": "gpu", "input_px": 224, "machine": {"cores": 16, "gpu": "H100"},
            "commit": "abc1234", "command": "x", "figure": "trivial_goal", "seeds_planned": 3}
    cut = {**base, "date": "2026-12-05T10:00:00", "met": True, "beaten": ["cheapest"], "not_beaten": [], "seeds": 2}
    none = {**base, "date": "2026-12-05T11:00:00", "goal": "not measured: no seed retrained for every role", "seeds": 0}
    whole = {**cut, "date": "2026-12-05T09:00:00", "seeds": 3}
    rows = pick_vs_trivial({"gpu-evidence": [cut, none, whole]})
    assert [a for a, _, _ in rows] == ["not measured: no seed retrained for every role", "yes: below cheapest",
                                       "yes: below cheapest"]
    assert ", 2 of 3 seeds," in rows[1][1] and "seeds" not in rows[2][1]


def test_the_fidelity_answer_names_the_architectures_left_out():
    from common.answers import proxy_rank

    f = {"bench": "gpu_evidence", "size": "gpu", "input_px": 224, "machine": {"cores": 16}, "commit": "abc1234",
         "command": "x", "date": "2026-12-05T10:00:00", "figure": "fidelity", "n": 4, "kendall_tau_error": 0.67,
         "kendall_tau_error_ci": [0.0, 1.0], "cost_only_kendall_tau_error": 0.33, "kendall_tau_score": 0.5,
         "cost_only_kendall_tau_score": 0.5, "left_out": ["mnv2 x0.55", "mnv2 x0.60"]}
    (row,) = proxy_rank({"gpu-evidence": [f]})
    assert row[0].startswith("Kendall tau on error 0.67 [0.00, 1.00] over 4 retrained architectures")
    assert row[0].endswith("left out, the time up before their proxy training: mnv2 x0.55, mnv2 x0.60")
    (row,) = proxy_rank({"gpu-evidence": [{**f, "left_out": []}]})
    assert "left out" not in row[0]
