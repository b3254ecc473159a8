"""A ranking by cost alone (dearer = lower error) against the truths earlier runs measured, from their
raw lines: the Kendall tau a proxy has to beat before its ranking of errors says more than model size.

    .venv/bin/python bench/cost_only.py           # print one line per earlier run
    .venv/bin/python bench/cost_only.py --save    # and append them to the files they were derived from

The suite (`bench/suite.py`) and the supernet benchmark (`bench/bench_supernet.py`) now compute this
figure themselves; this script derives it for runs made before they did, so their proxies' taus can
be read against it. From docs/results/suite-small.jsonl it takes each run's `fidelity<i>` retrains
(cost = GFLOPs x MParams, test error, score); from docs/results/supernet.jsonl each run's truth
(mean error per architecture), with the architectures rebuilt as the benchmark chose them and
checked against the names the run recorded. Runs that already carry the figure are left alone.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from common.evidence import spread_archs
from common.run_info import run_info

from nas.deploy.fidelity import bootstrap_interval, kendall_tau
from nas.model.cost import count_cost
from nas.search.space import load_space

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results"
SUITE, SUPERNET = RESULTS / "suite-small.jsonl", RESULTS / "supernet.jsonl"
SUPERNET_SPACES = {"small": "quick.yaml", "long": "quick128.yaml"}


def _tau(cost: list[float], truth: list[float]) -> dict:
    by_cost = [-c for c in cost]
    return {"cost_only_kendall_tau_error": round(kendall_tau(by_cost, truth), 3),
            "cost_only_kendall_tau_error_ci": [round(x, 3) for x in bootstrap_interval(by_cost, truth, kendall_tau)]}


def _runs(path: Path) -> dict[str, list[dict]]:
    runs = defaultdict(list)
    for line in map(json.loads, path.read_text().splitlines()):
        runs[line["date"]].append(line)
    return runs


def suite_lines(path: Path) -> list[dict]:
    out = []
    for date, lines in _runs(path).items():
        fid = [x for x in lines if x.get("figure") == "fidelity"]
        full = [x for x in lines if x.get("figure") == "retrain" and str(x.get("role", "")).startswith("fidelity")]
        if not fid or not full or "cost_only_kendall_tau_error" in fid[0]:
            continue
        out.append({"figure": "fidelity_cost_only", "of_run": date, "of_commit": lines[0]["commit"], "n": len(full),
                    **_tau([x["gflops"] * x["mparams"] for x in full], [x["px_error"] for x in full]),
                    "proxy_kendall_tau_error": fid[0]["kendall_tau_error"],
                    "proxy_kendall_tau_error_ci": fid[0]["kendall_tau_error_ci"]})
    return out


def supernet_lines(path: Path) -> list[dict]:
    out = []
    for date, lines in _runs(path).items():
        truth = next((x for x in lines if x.get("figure") == "truth"), None)
        if truth is None or any(x.get("figure") == "cost_only" for x in lines):
            continue
        space = load_space(ROOT / "search_spaces" / SUPERNET_SPACES[truth["size"]])
        archs = [a for a, _ in spread_archs(space, len(truth["truth_px"]), seed=11)]
        if [a.short() for a in archs] != truth["archs"]:
            raise SystemExit(f"{path}: the run of {date} chose other architectures than spread_archs gives now")
        arms = {x["arm"]: x["kendall_tau_error"] for x in lines if x.get("figure") == "arm"}
        out.append({"figure": "cost_only", "of_run": date, "of_commit": truth["commit"], "n": len(archs),
                    **_tau([count_cost(a).cost for a in archs], truth["truth_px"]), "arms_kendall_tau_error": arms})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--save", action="store_true", help="append each line to the file it was derived from")
    args = ap.parse_args()
    context = {"bench": "cost_only", **run_info("bench/cost_only.py")}
    for path, lines in ((SUITE, suite_lines(SUITE)), (SUPERNET, supernet_lines(SUPERNET))):
        title = json.loads(path.read_text().splitlines()[0]).get("title")
        lines = [{**context, **({"title": title} if title else {}), **line} for line in lines]
        for line in lines:
            print(json.dumps(line))
        if args.save and lines:
            with path.open("a") as f:
                f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
