"""What a device run wrote, summed up and, with --apply, filed: the folder bench/device_check.sh filled
on a lent GPU ($OUT, which the device tool copies back here).

    .venv/bin/python bench/device_collect.py FOLDER            # the summary
    .venv/bin/python bench/device_collect.py FOLDER --apply    # and its lines appended to docs/results/

The summary: each step's exit status and seconds (log.txt); the CUDA tests passed, failed and
skipped (cuda-tests.xml); per model and batch the trainer against the best loop of the same run (goal
>= 0.9x) with the evaluation estimates and the `eval_graph` default they support; per worker count the
combined images/s over the timed span, and the fewest workers within 5% of the most (a single run's
noise: the one-GPU default to set); the evidence run's study, its goals and its fidelity.
--apply appends trainer-format.jsonl, gpu-workers.jsonl and gpu-evidence.jsonl to the files of the same
names in docs/results/, leaving out lines already there (a second --apply adds nothing). It refuses, before
writing anything, a folder whose lines were not measured on CUDA (a CPU dry run's are meaningless).
Then: bench/skip_audit.py --save and make results.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from common.arguments import doc_parser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
FILED = ("trainer-format.jsonl", "gpu-workers.jsonl", "gpu-evidence.jsonl")  # what a device run adds
STEP = re.compile(r"^=== (\S+): rc=(\d+) in (\d+)s$", re.M)
NEAR_BEST = 0.95  # the fewest workers whose combined images/s is within 5% of the most


class CollectError(Exception):
    """A file of the folder cannot be read or must not be filed; the message names it."""


def read_lines(path: Path) -> list[dict]:
    """The JSON lines of `path` (none when it is missing); CollectError naming a malformed one."""
    if not path.is_file():
        return []
    out = []
    for i, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip():
            try:
                out.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise CollectError(f"{path}:{i}: not a JSON line ({exc.msg})") from None
    return out


def on_cuda(line: dict) -> bool:
    return str(line.get("device", "")).startswith("cuda")


def steps(folder: Path) -> list[str]:
    log = folder / "log.txt"
    found = STEP.findall(log.read_text(errors="replace")) if log.is_file() else []
    return [f"{name}: {'ok' if rc == '0' else 'TIMED OUT' if rc == '124' else 'rc ' + rc} in {s} s"
            for name, rc, s in found] or ["no step ended (log.txt missing or empty)"]


def cuda_tests(folder: Path) -> list[str]:
    xml = folder / "cuda-tests.xml"
    if not xml.is_file():
        return ["not run (cuda-tests.xml missing)"]
    try:
        suite = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        raise CollectError(f"{xml}: not JUnit XML ({exc})") from None
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    bad = [f"  FAILED {case.get('name')}" for case in suite.iter("testcase")
           if case.find("failure") is not None or case.find("error") is not None]
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return [f"{passed} passed, {counts['failures'] + counts['errors']} failed, {counts['skipped']} skipped", *bad]


def trainer(lines: list[dict]) -> list[str]:
    out = []
    for x in lines:
        ok = "meets" if x["trainer_vs_best"] >= 0.9 else "MISSES"
        out.append(f"{x['model_name']} {x['size_px']} px batch {x['batch_size']}: trainer {x['trainer_images_per_s']} "
                   f"images/s (cuda_graph {x.get('trainer_cuda_graph')}, amp {x.get('trainer_amp')}, "
                   f"{x.get('trainer_memory_format')}), best loop {x['best_loop']}: ratio {x['trainer_vs_best']} "
                   f"{ok} >= 0.9")
        if "eval_share_estimate" in x:
            saves, bf16 = x.get("eval_graph_saves_estimate"), x.get("eval_bf16_graph_saves_estimate")
            out.append(f"  evaluation ~{x['eval_share_estimate']:.0%} of a gpu.yaml trial (estimate)"
                       + (f"; eval_graph: on would save ~{saves:.0%}" if saves is not None else "")
                       + (f", captured in bfloat16 ~{bf16:.0%}" if bf16 is not None else ""))
    return [*out, eval_graph_default(lines)] if out else ["not measured"]


def eval_graph_default(lines: list[dict]) -> str:
    """The `eval_graph` default the trainer lines support: auto (captured with the training step) when
    the trainer's captured evaluation saved time for every model measured, else off as now."""
    saves = {x["model_name"]: x["eval_graph_saves_estimate"] for x in lines if "eval_graph_saves_estimate" in x}
    if not saves:
        return "eval_graph default: stays off (its arm was not measured)"
    low, high = min(saves.values()), max(saves.values())
    if low > 0:
        return f"eval_graph default to set: auto (it saved {low:.0%}-{high:.0%} of a trial)"
    slower = ", ".join(name for name, v in saves.items() if v <= 0)
    return f"eval_graph default: stays off (no saving for {slower})"


def workers(lines: list[dict]) -> list[str]:
    if not lines:
        return ["not measured"]
    by_count = {x["workers"]: x for x in lines}
    rate = {n: x["combined_span_images_per_s"] for n, x in by_count.items()}
    out = [f"{n} worker(s): {rate[n]} images/s together over the timed span (summed per-process rates "
           f"{by_count[n]['combined_images_per_s']})" for n in sorted(by_count)]
    best = max(rate.values())
    choice = min(n for n, r in rate.items() if r >= NEAR_BEST * best)
    return [*out, f"default to set: {choice} (the fewest within {1 - NEAR_BEST:.0%} of the most, {best} images/s)"]


def _goal(x: dict) -> str:
    if x.get("seeds") == 0:
        return str(x["goal"])
    met = "met" if x.get("met") else f"MISSED, not below {', '.join(x.get('not_beaten') or [])}"
    return f"goal {met} over {x.get('seeds')} of {x.get('seeds_planned')} seeds"


def evidence(lines: list[dict]) -> list[str]:
    out = []
    for x in lines:
        if x["figure"] == "study":
            out.append(f"study: {x['complete']} complete, {x['pruned']} pruned, {x['skipped']} skipped in "
                       f"{x['seconds']} s; pick {x['pick']}")
        elif x["figure"] == "trivial":
            out.append(f"retrained {x['role']} ({x['arch']}): {x['mean_px']} px, pick / it {x['pick_over_this']}")
        elif x["figure"] == "trivial_goal":
            out.append(f"retrained, the pick against the others: {_goal(x)}")
        elif x["figure"] == "fidelity":
            out.append(f"fidelity: tau on error {x['kendall_tau_error']} over {x['n']} (cost only "
                       f"{x['cost_only_kendall_tau_error']}); left out {', '.join(x.get('left_out') or []) or 'none'}")
    return out or ["not measured"]


def read_folder(folder: Path) -> dict[str, list[dict]]:
    return {name: read_lines(folder / name) for name in FILED}


def summary(folder: Path, lines: dict[str, list[dict]]) -> list[str]:
    sections = {"steps": steps(folder), "CUDA tests": cuda_tests(folder),
                "trainer (goal >= 0.9x the best loop)": trainer(lines["trainer-format.jsonl"]),
                "workers on one GPU": workers(lines["gpu-workers.jsonl"]),
                "evidence at 224 px": evidence(lines["gpu-evidence.jsonl"])}
    return [text for title, body in sections.items() for text in (f"## {title}", *body)]


def check_filable(folder: Path, lines: dict[str, list[dict]]) -> None:
    """CollectError naming the first line not measured on CUDA, or a folder with none."""
    for name, found in lines.items():
        for i, line in enumerate(found, 1):
            if not on_cuda(line):
                raise CollectError(f"{folder / name}:{i}: measured on {line.get('device')!r}, not CUDA: "
                                   "a dry run's lines are never filed")
    if not any(lines.values()):
        raise CollectError(f"{folder}: none of {', '.join(FILED)} holds a line")


def file_lines(lines: dict[str, list[dict]], results: Path = RESULTS) -> dict[str, int]:
    """Append each file's lines not already in docs/results/'s file of that name (each file written whole
    to a temporary file, then renamed over it); the number added per file."""
    added = {}
    for name, new in lines.items():
        target = results / name
        kept = read_lines(target)
        fresh = [x for x in new if x not in kept]
        added[name] = len(fresh)
        if fresh:
            text = (target.read_text() if target.is_file() else "") + "".join(json.dumps(x) + "\n" for x in fresh)
            fd, tmp = tempfile.mkstemp(dir=results, prefix=f".{name}.")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, target)
    return added


def main() -> None:
    ap = doc_parser(__doc__)
    ap.add_argument("folder", type=Path, help="the folder the device run wrote ($OUT)")
    ap.add_argument("--apply", action="store_true", help="append its lines to docs/results/")
    args = ap.parse_args()
    try:
        if not args.folder.is_dir():
            raise CollectError(f"{args.folder}: not a folder")
        lines = read_folder(args.folder)  # read once: checked, summed up and filed
        if args.apply:
            check_filable(args.folder, lines)
        print("\n".join(summary(args.folder, lines)))
    except CollectError as exc:
        print(f"device_collect: {exc}", file=sys.stderr)
        sys.exit(2)
    if args.apply:
        for name, n in file_lines(lines).items():
            print(f"{n} line(s) appended to docs/results/{name}")
        print("next: .venv/bin/python bench/skip_audit.py --save && make results")


if __name__ == "__main__":
    main()
