"""bench_supernet's cells: kept as measured, reused by a later run, shared by shards (no training here)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import bench_supernet as bs
import pytest


def _archs(n: int):
    return [SimpleNamespace(short=lambda i=i: f"arch{i}") for i in range(n)]


def _run(archs, keep, shard, measured: list):
    def measure(arch, seed):
        measured.append((arch.short(), seed))
        return 10.0 + int(arch.short()[-1]) + seed / 10

    return bs._cells(archs, 3, lambda a, s: f"{a.short()}/{s}", measure, keep, shard, "truth")


def test_two_shards_share_the_cells_and_a_later_run_reuses_them(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "TRUTH_CELLS", tmp_path / "cells.jsonl")
    archs, keep, first, second, third = _archs(4), {"size": "t"}, [], [], []
    rows1, _ = _run(archs, keep, (1, 2), first)
    rows2, _ = _run(archs, keep, (2, 2), second)
    assert sorted(first + second) == [(f"arch{i}", s) for i in range(4) for s in range(3)]  # each cell once
    assert not set(first) & set(second) and len(first) == len(second) == 6
    assert sum(map(len, rows1)) == 6 and sum(map(len, rows2)) == 12  # the second shard read the first's cells
    rows, reused = _run(archs, keep, (1, 1), third)
    assert third == [] and reused == 12 and rows == [[10.0 + i + s / 10 for s in range(3)] for i in range(4)]
    lines = [json.loads(x) for x in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and all(x["size"] == "t" and x["cells"] == "truth" for x in lines)


def test_a_cell_kept_with_runtime_fields_in_its_key_still_matches(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "TRUTH_CELLS", tmp_path / "cells.jsonl")
    old = {"arch": {"backbone": "b"}, "seed": 0, "recipe": {"lr": 0.004, "amp": True, "eval_batch_size": 64}}
    (tmp_path / "cells.jsonl").write_text(json.dumps({"_key": json.dumps(old), "px_error": 12.5}) + "\n")
    new = json.dumps({**old, "recipe": {"lr": 0.004}}, sort_keys=True)
    assert bs._kept_cells() == {new: 12.5}  # how a run computed is not part of what it measured
    other = json.dumps({**old, "recipe": {"lr": 0.001}}, sort_keys=True)
    assert other not in bs._kept_cells()


def test_without_keep_nothing_is_written_or_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "TRUTH_CELLS", tmp_path / "cells.jsonl")
    measured: list = []
    _run(_archs(2), None, (1, 1), measured)
    _run(_archs(2), None, (1, 1), measured)
    assert len(measured) == 12 and not (tmp_path / "cells.jsonl").exists()


@pytest.mark.parametrize("text, ok", [("1/2", (1, 2)), ("2/2", (2, 2)), ("3/2", None), ("0/1", None), ("x", None)])
def test_shard_argument(text, ok):
    if ok:
        assert bs._shard(text) == ok
    else:
        with pytest.raises(Exception, match="K/N"):
            bs._shard(text)


def test_steps_argument():
    assert bs._steps("scratch, inherited") == ("scratch", "inherited")
    with pytest.raises(Exception, match="comma-separated"):
        bs._steps("scratch,nope")


def test_arm_pairs_compare_each_later_arm_with_each_earlier_one():
    truth = [float(i) for i in range(8)]
    arms = {"supernet_distill": truth[:], "scratch": truth[::-1]}  # perfect vs reversed ranking
    (row,) = bs._pair_lines(arms, truth)
    assert (row["arm"], row["against"]) == ("supernet_distill", "scratch")  # in ARMS order, not the dict's
    assert row["kendall_tau_error_difference"] == 2.0 and row["difference_ci"] == [2.0, 2.0]
    arms["supernet"] = truth[:]
    pairs = [(r["arm"], r["against"]) for r in bs._pair_lines(arms, truth)]
    assert pairs == [("supernet", "scratch"), ("supernet_distill", "scratch"), ("supernet_distill", "supernet")]


class _Clock:
    """A stand-in for the time module: evaluations advance it, nothing sleeps."""

    def __init__(self) -> None:
        self.t = 0.0

    def perf_counter(self) -> float:
        return self.t


def test_candidates_are_counted_within_the_budget_not_projected(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(bs, "time", clock)

    def evaluate(arch, _aug):
        clock.t += 10.0
        return float(arch)

    archs, more = [(1, 1), (2, 1), (3, 1)], [(9, 1)] * 100
    # the benchmark's 3 end at 30 s; draws end at 40 and 50 s; the one started at 50 s ends past 55 s
    errors, seconds, counted = bs.count_in_budget(evaluate, archs, iter(more), 0.0, 55.0)
    assert errors == [1.0, 2.0, 3.0] and seconds == [10.0] * 3 and counted == 5 and clock.t == 60.0
    # 40 s of the budget went to the parents: only the first evaluation ends within it, yet all 3 are measured
    errors, _, counted = bs.count_in_budget(evaluate, archs, iter(more), 40.0, 55.0)
    assert errors == [1.0, 2.0, 3.0] and counted == 1


def test_both_variants_are_reported_against_scratch_and_a_missing_one_says_so():
    truth = [float(i) for i in range(8)]
    by_cost = [-float(i) for i in range(8)]  # cost alone ranks the truth backwards here
    arms = {"scratch": truth[::-1], "supernet": truth[:]}
    rows = {r["arm"]: r for r in bs.variant_lines(arms, truth, by_cost)}
    assert list(rows) == ["supernet", "supernet_distill"]  # both, whichever ranked better
    assert rows["supernet"]["kendall_tau_error"] == 1.0 and rows["supernet"]["scratch_kendall_tau_error"] == -1.0
    assert rows["supernet"]["difference"] == 2.0 and rows["supernet"]["cost_only_kendall_tau_error"] == -1.0
    assert rows["supernet_distill"]["kendall_tau_error"] == "not measured" and rows["supernet_distill"]["distill"]
    (row, _) = bs.variant_lines({"supernet": truth[:]}, truth, by_cost)
    assert row["scratch_kendall_tau_error"] == "not measured" and "difference" not in row
