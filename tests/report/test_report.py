"""Report: plain-data functions on fixed inputs, and the written HTML/CSV of real optuna studies."""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from nas.cli.leaderboard import leaderboard_table, leaderboard_text
from nas.errors import StudyError
from nas.model.cost import score
from nas.report import (
    COLUMNS,
    LEADERBOARD_COLUMNS,
    best_so_far,
    iso_score_lines,
    leaderboard,
    param_importances,
    pareto_mask,
    pareto_mask_3d,
    summary,
    trials_frame,
    write_report,
)
from nas.report.figures import (
    _get_fidelity_info,
    _get_history_info,
    _get_parallel_info,
    _get_pareto3d_info,
    _get_pareto_info,
)
from nas.report.frame import frame_of, scored
from nas.report.importance import _get_importance_info
from nas.report.page import _fidelity_html, _Html
from nas.report.pareto import iso_score_levels
from nas.report.ranking import blind_line, blind_proxy

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTRIBUTIONS = {
    "backbone": CategoricalDistribution(["mobilenetv2", "mobilenetv3_small"]),
    "backbone_width": FloatDistribution(0.25, 1.5),
    "head_depth": IntDistribution(1, 8),
    "head_width": FloatDistribution(0.125, 4.0, log=True),
    "aug_multiplier": IntDistribution(1, 10),
}
V2_BASE = "seed_mobilenetv2_full"
V3_BASE = "seed_mobilenetv3_small"


def _arch(backbone: str, width: float, depth: int, head: float) -> dict:
    return {"backbone": backbone, "backbone_width": width, "head_depth": depth, "head_width": head,
            "input_size": 224, "num_keypoints": 21}


def complete(objective: str, gflops: float, mparams: float, px: float, *, backbone="mobilenetv3_small", width=1.0,
             depth=2, head=1.0, aug=7, baseline: str | None = None, retried_from: int | None = None):
    """A COMPLETE trial as the study module stores it (values are deliberately junk: never read)."""
    attrs = {
        "arch": _arch(backbone, width, depth, head), "recipe": {"aug_multiplier": aug, "epochs": 3},
        "gflops": gflops, "mparams": mparams, "true_gmacs": gflops * 0.8, "cost": gflops * mparams,
        "px_error": px, "pck": 0.9, "auc": 0.8, "score": score(gflops, mparams, px), "train_seconds": 12.0,
        "images_per_s": 50.0, "px_error_is_estimate": False,
    }
    system = {}
    if baseline:
        attrs["baseline"] = baseline
    if retried_from is not None:
        attrs["retried_from"] = retried_from
        system["failed_trial"] = retried_from
    params = {"backbone": backbone, "backbone_width": width, "head_depth": depth, "head_width": head,
              "aug_multiplier": aug}
    values = [-1.0] if objective == "score" else [-1.0, -1.0, -1.0]
    return create_trial(values=values, params=params, distributions=DISTRIBUTIONS, user_attrs=attrs,
                        system_attrs=system)


def hand_trials(objective: str) -> list:
    """Baselines, a tie on the front, dominated, skipped, pruned, failed, retried and running trials."""
    def c(*args, **kwargs):
        return complete(objective, *args, **kwargs)

    return [
        c(1.031, 4.152, 5.109, backbone="mobilenetv2", baseline=V2_BASE),  # 0
        c(0.474, 2.585, 5.966, baseline=V3_BASE),  # 1
        c(0.3026, 2.008, 6.153, width=0.75),  # 2
        c(0.20, 1.50, 6.00, width=0.5, head=0.5, aug=5),  # 3 best
        c(0.20, 1.50, 6.00, width=0.5, head=0.5, aug=5),  # 4 exact tie of 3
        c(0.50, 2.80, 6.50, width=1.0, head=2.0, depth=3),  # 5 dominated
        create_trial(state=TrialState.PRUNED, params={}, distributions={}, user_attrs={  # 6 skipped
            "arch": _arch("mobilenetv2", 1.4, 4, 2.0), "gflops": 2.0, "mparams": 9.0, "cost": 18.0,
            "skipped": True, "reason": "cost alone cannot beat the best score"}),
        create_trial(state=TrialState.PRUNED, params={}, distributions={},  # 7 pruned while training
                     user_attrs={"arch": _arch("mobilenetv3_small", 0.5, 1, 0.25), "reason": "pruned at epoch 1"}),
        create_trial(state=TrialState.FAIL, params={}, distributions={},  # 8 failed
                     user_attrs={"reason": "TrainingDiverged: loss is nan"}),
        c(0.15, 1.20, 7.50, width=0.35, head=0.25, depth=1, aug=3, retried_from=8),  # 9 retry, cheapest
        create_trial(state=TrialState.RUNNING, params={}, distributions={}),  # 10
    ]


def make_study(objective: str = "score", storage=None, trials=None, name="hand") -> optuna.Study:
    directions = ["minimize"] if objective == "score" else ["minimize"] * 3
    study = optuna.create_study(directions=directions, storage=storage, study_name=name)
    study.set_user_attr("objective", objective)
    study.add_trials(hand_trials(objective) if trials is None else trials)
    return study


def random_trials(objective: str, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        backbone = str(rng.choice(["mobilenetv2", "mobilenetv3_small"]))
        width = float(rng.choice([0.35, 0.5, 0.75, 1.0]))
        head = float(rng.choice([0.25, 0.5, 1.0]))
        depth = int(rng.integers(1, 4))
        g = (0.4 if backbone == "mobilenetv2" else 0.1) * width**2 + 0.05 * head * depth
        m = (1.8 if backbone == "mobilenetv2" else 0.9) * width + 0.3 * head
        px = 5.0 + 1.0 / width + float(rng.normal(0, 0.2))
        out.append(complete(objective, g, m, px, backbone=backbone, width=width, depth=depth, head=head,
                            aug=int(rng.integers(3, 8))))
    return out


@pytest.fixture(scope="module")
def hand_df() -> pd.DataFrame:
    return trials_frame(make_study())


# --- frame --------------------------------------------------------------------------------------
def test_frame_has_one_row_per_trial_with_all_columns(hand_df):
    assert tuple(hand_df.columns) == COLUMNS
    assert hand_df["number"].tolist() == list(range(11))
    assert hand_df["state"].tolist() == ["COMPLETE"] * 6 + ["PRUNED", "PRUNED", "FAIL", "COMPLETE", "RUNNING"]
    assert hand_df.loc[0, "baseline"] == V2_BASE and hand_df.loc[2, "baseline"] == ""
    assert hand_df.loc[6, "skipped"] and not hand_df.loc[7, "skipped"]
    assert hand_df.loc[6, "cost"] == 18.0 and math.isnan(hand_df.loc[6, "px_error"])
    assert hand_df.loc[8, "reason"].startswith("TrainingDiverged")
    assert hand_df.loc[9, "retried_from"] == 8 and hand_df["retried_from"].notna().sum() == 1
    assert hand_df.loc[3, "aug_multiplier"] == 5 and hand_df.loc[3, "input_size"] == 224
    assert hand_df.loc[10, "backbone"] == "" and math.isnan(hand_df.loc[10, "score"])


def test_retry_read_from_system_attr_alone():
    t = complete("score", 0.2, 1.0, 6.0)
    t.system_attrs["failed_trial"] = 3  # optuna's own RetryFailedTrialCallback mark, no user attr
    df = trials_frame(make_study(trials=[t]))
    assert df.loc[0, "retried_from"] == 3


def test_worker_column_names_the_worker_short_and_a_share_that_changed():
    moved, kept, old = (complete("score", 0.2, 1.0, 6.0) for _ in range(3))
    moved.user_attrs.update(worker_host="node7.cluster.example", worker_pid=4242, worker_threads=4,
                            worker_threads_end=2)
    kept.user_attrs.update(worker_host="node7", worker_pid=17, worker_threads=1, worker_threads_end=1)
    df = trials_frame(make_study(trials=[moved, kept, old]))  # `old`: from before workers were recorded
    assert df["worker"].tolist() == ["node7:4242 x4>2", "node7:17 x1", ""]
    assert leaderboard(df)["worker"].tolist() == ["node7:4242 x4>2", "node7:17 x1", ""]


# --- pareto -------------------------------------------------------------------------------------
def brute_non_dominated(points: np.ndarray) -> np.ndarray:
    n = len(points)
    return np.array([
        not any(np.all(points[j] <= points[i]) and np.any(points[j] < points[i]) for j in range(n) if j != i)
        for i in range(n)
    ], dtype=bool)


@pytest.mark.parametrize("seed", range(6))
def test_pareto_mask_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 60
    df = pd.DataFrame({
        "state": rng.choice(["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "FAIL"], n),
        "cost": rng.integers(1, 8, n).astype(float),  # coarse grid: many ties and exact duplicates
        "px_error": rng.integers(3, 9, n).astype(float),
        "gflops": rng.integers(1, 5, n).astype(float),
        "mparams": rng.integers(1, 5, n).astype(float),
    })
    df.loc[rng.choice(n, 4, replace=False), "px_error"] = np.nan  # complete but unmeasured: never on the front
    for cols, fn in ((["cost", "px_error"], pareto_mask), (["gflops", "mparams", "px_error"], pareto_mask_3d)):
        ok = (df["state"] == "COMPLETE") & df[cols].notna().all(axis=1)
        expected = np.zeros(n, dtype=bool)
        expected[ok.to_numpy()] = brute_non_dominated(df.loc[ok, cols].to_numpy())
        assert fn(df).tolist() == expected.tolist()


def test_pareto_mask_on_hand_study(hand_df):
    front = hand_df.loc[pareto_mask(hand_df), "number"].tolist()
    assert front == [0, 1, 3, 4, 9]  # both copies of the tie stay; 3 dominates 2, 1 dominates 5; complete only
    assert pareto_mask(hand_df.iloc[0:0]).empty


def test_pareto_info_front_sorted_baselines_and_iso_levels(hand_df):
    info = _get_pareto_info(hand_df)
    costs = [p.cost for p in info.front]
    assert costs == sorted(costs)
    assert {p.number for p in info.front} | {p.number for p in info.dominated} == {0, 1, 2, 3, 4, 5, 9}
    assert sorted(p.baseline for p in info.baselines) == [V2_BASE, V3_BASE]
    levels = [line["score"] for line in info.iso_lines]
    for s in (hand_df.loc[3, "score"], hand_df.loc[0, "score"], hand_df.loc[1, "score"]):
        assert any(math.isclose(s, lv) for lv in levels)
    hover = {p.number: p.hover for p in info.baselines}[0]
    assert hover.startswith(f"trial 0 ({V2_BASE})<br>mobilenetv2 x1.00 | head 2x1.00 | 224px")
    assert "score 708.5" in hover


def test_iso_levels_keep_best_and_baselines_and_drop_crowding():
    assert iso_score_levels(100.0, [400.0]) == [50.0, 100.0, 200.0, 400.0]
    assert iso_score_levels(100.0, [198.0]) == [50.0, 100.0, 198.0]  # 2x best within 5 % of a baseline


def test_iso_score_lines_have_constant_score():
    lines = iso_score_lines([50.0, 285.59885234255654, 1000.0], (0.05, 20.0), n=40)
    assert [line["score"] for line in lines] == [50.0, 285.59885234255654, 1000.0]
    for line in lines:
        assert line["cost"] == sorted(line["cost"]) and len(line["cost"]) >= 40
        assert min(line["px_error"]) >= 0
        for cost, err in zip(line["cost"], line["px_error"]):
            assert 0.05 * (1 - 1e-12) <= cost <= 20.0 * (1 + 1e-12)
            assert math.isclose(score(cost, 1.0, err), line["score"], rel_tol=1e-12)
    short = iso_score_lines([1.0], (0.05, 20.0))[0]  # error >= 0 only up to cost = S, which is included
    assert max(short["cost"]) == pytest.approx(1.0) and short["px_error"][-1] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        iso_score_lines([1.0], (0.0, 1.0))


# --- history, summary, leaderboard ----------------------------------------------------------------
def test_best_so_far_is_running_minimum(hand_df):
    run = best_so_far(hand_df)
    assert run["number"].tolist() == [0, 1, 2, 3, 4, 5, 9]
    assert np.all(np.diff(run["best"]) <= 0)
    scores = hand_df.set_index("number").loc[run["number"], "score"].tolist()
    assert run["best"].tolist() == [min(scores[: i + 1]) for i in range(len(scores))]


def test_summary_best_ratios_and_counts(hand_df):
    s = summary(hand_df)
    best = score(0.20, 1.50, 6.00)
    assert s["best"]["number"] == 3 and s["best"]["score"] == pytest.approx(best)
    assert s["best"]["backbone"] == "mobilenetv3_small" and s["best"]["head_width"] == 0.5
    ratios = {b["baseline"]: b["ratio"] for b in s["baselines"]}
    assert ratios[V2_BASE] == pytest.approx(best / score(1.031, 4.152, 5.109))
    assert ratios[V3_BASE] == pytest.approx(best / score(0.474, 2.585, 5.966))
    assert s["counts"] == {"trials": 11, "complete": 7, "pruned": 2, "skipped": 1, "failed": 1, "running": 1,
                           "retried": 1, "duplicates": 0}
    # trial 4 repeats the best's architecture: the runner-up is the best of another one, trial 2
    assert s["runner_up"] == {"number": 2, "score": pytest.approx(score(0.3026, 2.008, 6.153)),
                              "margin_px": pytest.approx(math.log(score(0.3026, 2.008, 6.153) / best))}
    json.dumps(s, allow_nan=False)  # plain data all the way down


def test_leaderboard_order_and_table(hand_df):
    board = leaderboard(hand_df)
    assert board["trial"].tolist() == [3, 4, 2, 9, 1, 0, 5]
    assert board["rank"].tolist() == list(range(1, 8))
    assert board["score"].is_monotonic_increasing
    assert board.loc[5, "baseline"] == V2_BASE and board.loc[6, "baseline"] == ""
    assert leaderboard(hand_df, top=2)["trial"].tolist() == [3, 4]
    table = leaderboard_table(hand_df, top=3)
    assert table.row_count == 3 and len(table.columns) == len(board.columns)


def test_the_plain_leaderboard_is_whole_at_any_width(hand_df):
    """Piped or logged: plain columns, nothing cut, no box drawing."""
    text = leaderboard_text(hand_df, top=7)
    title, header, *rows = text.splitlines()
    assert title == "top 7 trials by score (lower is better)" and len(rows) == 7
    assert header.split()[:3] == ["#", "trial", "baseline"] and not set(text) & set("│┃━─┏┡└")
    board = leaderboard(hand_df, top=7)
    for row, (_, b) in zip(rows, board.iterrows()):
        assert row.split()[1] == str(b["trial"]) and row.split()[-2 if b["worker"] else -1] == f"{b['score']:.4g}"


def test_a_blind_proxy_is_named(hand_df):
    done = scored(hand_df).assign(mean_pose_px=1.0)  # every error above the mean pose's: ranked by cost alone
    blind = blind_proxy(done)
    assert blind == {"lowest_px": pytest.approx(done["px_error"].min()), "mean_pose_px": 1.0}
    assert "ranking is by cost alone" in blind_line(blind)
    assert blind_proxy(done.assign(mean_pose_px=done["px_error"].min() + 0.01)) is None  # one below it: it sees
    assert blind_proxy(hand_df.iloc[0:0]) is None and blind_line(None) is None


def test_parallel_info_encodes_backbone(hand_df):
    info = _get_parallel_info(hand_df)
    labels = [d["label"] for d in info.dimensions]
    assert labels == ["backbone", "backbone_width", "head_depth", "head_width", "aug_multiplier", "log10 score"]
    assert info.dimensions[0]["ticktext"] == ["mobilenetv2", "mobilenetv3_small"]
    assert info.log_score == pytest.approx(np.log10(best_so_far(hand_df)["score"]).tolist())


def test_history_info_runs_best_and_draws_each_baseline_once(hand_df):
    info = _get_history_info(hand_df)
    assert info.number == [0, 1, 2, 3, 4, 5, 9] and len(info.hover) == len(info.number)
    assert info.best[-1] == pytest.approx(score(0.20, 1.50, 6.00)) and info.best == sorted(info.best, reverse=True)
    assert [name for name, _ in info.baselines] == [V2_BASE, V3_BASE]
    assert info.baselines[1][1] == pytest.approx(score(0.474, 2.585, 5.966))
    assert info.hover[info.number.index(9)].startswith("trial 9<br>mobilenetv3_small x0.35 | head 1x0.25")


def test_pareto3d_info_splits_measured_complete_trials(hand_df):
    info = _get_pareto3d_info(hand_df)
    front = {p.number for p in info.front}
    assert front | {p.number for p in info.others} == {0, 1, 2, 3, 4, 5, 9}  # no pruned, failed or running
    assert front == set(hand_df.loc[pareto_mask_3d(hand_df), "number"]) and {3, 4, 9} <= front


def test_summary_and_leaderboard_on_hand_frames():
    retried = [complete("score", 0.5, 2.0, 7.0, baseline=V3_BASE), complete("score", 0.5, 2.0, 6.0, baseline=V3_BASE),
               complete("score", 0.2, 1.0, 6.5)]
    s = summary(frame_of(make_study(trials=retried).trials))
    assert s["best"]["number"] == 2 and s["best"]["baseline"] == ""
    assert s["baselines"] == [{"baseline": V3_BASE, "number": 1, "score": pytest.approx(score(0.5, 2.0, 6.0)),
                               "ratio": pytest.approx(score(0.2, 1.0, 6.5) / score(0.5, 2.0, 6.0))}]
    unranked = frame_of(hand_trials("score")[6:9])  # skipped, pruned, failed: nothing to rank
    assert summary(unranked) == {"best": None, "runner_up": None, "baselines": [], "blind": None, "counts": {
        "trials": 3, "complete": 0, "pruned": 2, "skipped": 1, "failed": 1, "running": 0, "retried": 0,
        "duplicates": 0}}
    assert leaderboard(unranked).empty and tuple(leaderboard(unranked).columns) == LEADERBOARD_COLUMNS


# --- importances --------------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["score", "pareto"])
def test_param_importances_for_both_objectives(objective):
    study = make_study(objective, trials=random_trials(objective, 40) + hand_trials(objective))
    imp = param_importances(study)
    assert imp is not None and set(imp) <= set(DISTRIBUTIONS)
    assert sum(imp.values()) == pytest.approx(1.0)


def test_param_importances_none_when_not_meaningful():
    assert param_importances(make_study(trials=random_trials("score", 4))) is None
    same = [complete("score", 0.2, 1.0, 6.0 + i / 10) for i in range(8)]  # params identical everywhere
    info = _get_importance_info(make_study(trials=same).trials, ["minimize"])
    assert info.importances is None and "never varied" in info.reason


# --- proxy fidelity -----------------------------------------------------------------------------
def fidelity_run() -> dict:
    """A stored fidelity run as `nas.deploy.fidelity` writes it (two retrains, one error correlation NaN)."""
    rows = [
        {"number": 3, "baseline": "", "arch": "mobilenetv3_small <x0.50>", "gflops": 0.2, "mparams": 1.5,
         "proxy_score": 80.0, "proxy_px_error": 6.0, "full_score": 60.0, "full_px_error": 5.7},
        {"number": 0, "baseline": V2_BASE, "arch": "mobilenetv2 x1.00", "gflops": 1.0, "mparams": 4.1,
         "proxy_score": 700.0, "proxy_px_error": 5.1, "full_score": 500.0, "full_px_error": 4.8},
    ]
    return {"rows": rows, "n": 2, "kendall_tau_score": 1.0, "spearman_rho_score": 1.0,
            "kendall_tau_error": float("nan"), "spearman_rho_error": None, "recipe": {}}


def test_fidelity_info_from_a_stored_run():
    info = _get_fidelity_info(fidelity_run())
    assert info.number == [3, 0] and info.proxy_score == [80.0, 700.0] and info.full_score == [60.0, 500.0]
    assert info.text == ["#3", f"#0 {V2_BASE}"]
    assert info.diagonal == (60.0, 700.0) and info.n == 2
    assert info.correlations == {"kendall_tau_score": 1.0, "kendall_tau_error": None, "spearman_rho_score": 1.0,
                                 "spearman_rho_error": None, "cost_only_kendall_tau_score": None,
                                 "cost_only_kendall_tau_error": None}  # NaN and missing both mean "not computable"
    assert info.hover[0] == "trial 3: mobilenetv3_small &lt;x0.50&gt;<br>proxy 80 (6.00 px)<br>full 60 (5.70 px)"
    for nothing in (None, {}, {"rows": []}, "junk"):
        assert _get_fidelity_info(nothing) is None


def test_fidelity_intervals_read_from_a_run_and_absent_from_older_runs():
    old = _get_fidelity_info(fidelity_run())  # stored before intervals existed
    assert old.intervals == dict.fromkeys(old.correlations)
    div = _Html('<div id="fidelity-figure"></div>')
    assert div in _fidelity_html(old, div, "s")  # the section carries its figure (its wording is not pinned here)
    nan = float("nan")
    run = {**fidelity_run(), "n": 12, "kendall_tau_score": 0.5151, "kendall_tau_score_ci": [0.1, 0.789],
           "spearman_rho_score_ci": [0.35, 1.0], "kendall_tau_error_ci": [nan, nan], "spearman_rho_error_ci": None,
           "ci_level": 0.95, "n_boot": 2000}
    info = _get_fidelity_info(run)
    assert info.intervals == {"kendall_tau_score": (0.1, 0.789), "spearman_rho_score": (0.35, 1.0),
                              "kendall_tau_error": (None, None), "spearman_rho_error": None,
                              "cost_only_kendall_tau_score": None, "cost_only_kendall_tau_error": None}
    assert info.ci_level == 0.95 and info.n == 12
    assert div in _fidelity_html(info, div, "s")


# --- the written report -------------------------------------------------------------------------
# The page is checked through what a program can read back: its JSON blocks (`summary-data`,
# `pareto-data`), its figure containers and the traces plotted into each, and its trials table. Two text
# checks remain, both on escaping (the title, and the command the page offers to copy).
def _json_block(page: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.DOTALL)
    assert m, element_id
    return json.loads(m.group(1))


def _figures_on(page: str) -> list[list[dict]]:
    """The traces of each figure on the page, in page order; every figure container (`<div id="fig-i">`)
    is drawn by exactly one Plotly.newPlot call, and nothing is drawn anywhere else."""
    containers = re.findall(r'<div id="(fig-\d+)" class="plotly-graph-div"', page)
    drawn, decoder = {}, json.JSONDecoder()
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        assert m.group(1) not in drawn, m.group(1)
        drawn[m.group(1)] = decoder.raw_decode(page, m.end())[0]
    assert list(drawn) == containers == [f"fig-{i}" for i in range(len(containers))]
    return [drawn[c] for c in containers]


# the kinds of trace in each figure, in page order: Pareto front, 3-D front, history, parameters, importances,
# fidelity (the last two only when there is something to show)
FIGURE_KINDS = [{"scatter"}, {"scatter3d"}, {"scatter"}, {"parcoords"}, {"bar"}, {"scatter"}]


def _kinds(figures: list[list[dict]]) -> list[set[str]]:
    return [{trace["type"] for trace in traces} for traces in figures]


def _plots(traces: list[dict], points) -> bool:
    """Some trace of the figure draws exactly these (x, y) points, in this order."""
    want = [(pytest.approx(x), pytest.approx(y)) for x, y in points]
    return any(list(zip(t.get("x") or [], t.get("y") or [])) == want for t in traces)


def _trials_table(page: str) -> str:
    return re.search(r'<div class="scroll">(.*?)</div>', page, re.DOTALL)[1]


@pytest.mark.parametrize("objective", ["score", "pareto"])
def test_write_report_is_offline_html_with_pareto_data_and_csv(tmp_path, objective):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = make_study(objective, storage=storage, trials=hand_trials(objective) + random_trials(objective, 12))
    html_path, csv_path = write_report(study, tmp_path / "out" / "report.html")
    assert csv_path == tmp_path / "out" / "report.csv"
    page = html_path.read_text()

    assert not re.search(r"<script[^>]*\bsrc\s*=", page)  # nothing fetched: no CDN, no external script
    assert page.count("* plotly.js v") == 1  # the bundle is inline, once
    figures = _figures_on(page)
    assert _kinds(figures) == FIGURE_KINDS[:5]  # no fidelity run stored: no fidelity figure

    df = trials_frame(study)
    front = _json_block(page, "pareto-data")
    expected = df[pareto_mask(df)]
    assert sorted(p["number"] for p in front) == sorted(expected["number"].tolist())
    by_number = expected.set_index("number")
    for p in front:
        assert p["cost"] == pytest.approx(by_number.loc[p["number"], "cost"])
        assert p["px_error"] == pytest.approx(by_number.loc[p["number"], "px_error"])
        assert p["baseline"] == by_number.loc[p["number"], "baseline"]
    assert V2_BASE in {p["baseline"] for p in front}  # the cheap random trials beat only the V3 baseline
    assert _plots(figures[0], sorted((p["cost"], p["px_error"]) for p in front))  # the figure draws that front
    assert _json_block(page, "summary-data")["best"]["number"] == leaderboard(df)["trial"].iloc[0]

    csv = pd.read_csv(csv_path)
    assert len(csv) == len(study.trials) and tuple(csv.columns) == COLUMNS
    table = _trials_table(page)  # every trial, failed and running ones included, with its recorded reason
    assert table.count("<tr") == len(study.trials) + 1 and "<td>TrainingDiverged: loss is nan</td>" in table


def test_the_summary_names_the_spaces_cheapest_as_best_and_the_runner_up_it_beat(tmp_path):
    cheap = [complete("score", 0.01, 0.1, 6.0, width=0.25, depth=1, head=0.125, aug=1, baseline="space_cheapest"),
             complete("score", 0.3, 1.0, 5.0, baseline=V2_BASE)]
    facts = _json_block(write_report(make_study(trials=cheap), tmp_path / "cheap.html")[0].read_text(),
                        "summary-data")
    assert (facts["best"]["number"], facts["best"]["baseline"]) == (0, "space_cheapest")
    margin = math.log(score(0.3, 1.0, 5.0) / score(0.01, 0.1, 6.0))  # ln(300) - 1 px = 4.70 px
    assert facts["runner_up"] == {"number": 1, "score": pytest.approx(score(0.3, 1.0, 5.0)),
                                  "margin_px": pytest.approx(margin)}
    facts = _json_block(write_report(make_study(trials=cheap[1:]), tmp_path / "course.html")[0].read_text(),
                        "summary-data")
    assert (facts["best"]["number"], facts["best"]["baseline"], facts["runner_up"]) == (0, V2_BASE, None)


def test_write_report_without_enough_trials_draws_no_importances_and_says_why(tmp_path):
    study = make_study(trials=[complete("score", 0.2, 1.0, 6.0), complete("score", 0.3, 1.0, 5.0)])
    page = write_report(study, tmp_path / "small.html")[0].read_text()
    assert _kinds(_figures_on(page)) == FIGURE_KINDS[:4]  # no importance (nor fidelity) figure
    reason = _get_importance_info(study.trials, study.directions).reason
    assert reason and html.escape(reason) in page  # the page gives the reason the library found


def test_write_report_without_complete_trial_raises_and_writes_nothing(tmp_path):
    study = make_study(name="empty", trials=hand_trials("score")[6:9])  # skipped, pruned, failed
    with pytest.raises(StudyError, match="study 'empty' has no complete trial to report"):
        write_report(study, tmp_path / "r.html")
    assert list(Path(tmp_path).iterdir()) == []


def _without_code(page: str) -> str:
    """The page without its JavaScript (the inline plotly bundle is full of `$`); JSON blocks stay."""
    return re.sub(r"<script(?![^>]*application/json)[^>]*>.*?</script>", "", page, flags=re.DOTALL)


def test_written_page_carries_every_figure_its_data_and_no_placeholder(tmp_path):
    study = make_study(trials=hand_trials("score") + random_trials("score", 12), name="hands <&> more")
    study.set_user_attr("fidelity", fidelity_run())
    page = write_report(study, tmp_path / "r.html")[0].read_text()
    df = trials_frame(study)
    facts = summary(df)
    assert _json_block(page, "summary-data") == json.loads(json.dumps(facts))
    figures = _figures_on(page)
    assert _kinds(figures) == FIGURE_KINDS
    history = [t["x"] for t in figures[2] if t.get("mode") == "markers"]
    assert history == [scored(df)["number"].tolist()]  # one point per scored trial
    rows = fidelity_run()["rows"]
    assert _plots(figures[5], [(r["proxy_score"], r["full_score"]) for r in rows])  # the stored retrains
    assert "<title>handkp-search report: hands &lt;&amp;&gt; more</title>" in page
    assert "<&>" not in _without_code(page)  # the name is escaped wherever it appears
    assert not re.search(r"\$\{?[A-Za-z_]", _without_code(page))  # every template placeholder filled


def test_written_page_without_baselines_fidelity_or_importances(tmp_path):
    study = make_study(name="a<b", trials=[complete("score", 0.2, 1.0, 6.0), complete("score", 0.3, 1.0, 5.0)])
    page = write_report(study, tmp_path / "small.html")[0].read_text()
    assert _json_block(page, "summary-data")["baselines"] == []
    assert _kinds(_figures_on(page)) == FIGURE_KINDS[:4]  # no importance or fidelity figure
    # the command the page offers for the missing fidelity run names the study, escaped
    assert "<code>handkp-search fidelity --study-name a&lt;b</code>" in page and "a<b" not in _without_code(page)
    assert not re.search(r"\$\{?[A-Za-z_]", _without_code(page))
