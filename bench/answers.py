"""The questions a user asks of the results, answered from the raw lines: the table that opens
docs/results.md. A registry: each question is one function from the results (file stem -> lines)
to rows of (answer, scope, source); a question nothing has measured yet says so.

Every answer is computed from the latest lines of its benchmark; the scope names the device, the
input size, the budget and the date, so no figure reads as holding beyond where it was measured.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["QUESTIONS", "answer_rows"]

Line = dict[str, Any]
Row = tuple[str, str, str]  # answer, scope, source
Results = Mapping[str, list[Line]]
QUESTIONS: dict[str, Callable[[Results], list[Row]]] = {}


def question(text: str):
    def register(fn: Callable[[Results], list[Row]]):
        QUESTIONS[text] = fn
        return fn
    return register


def _latest(lines: Iterable[Line], **match: Any) -> list[Line]:
    """The matching lines of the latest run (by date) that has any."""
    found = [x for x in lines if all(str(x.get(k)) == str(v) for k, v in match.items())]
    if not found:
        return []
    last = max(str(x["date"]) for x in found)
    return [x for x in found if str(x["date"]) == last]


def _machine(line: Line) -> str:
    m = line.get("machine")
    if isinstance(m, dict):
        return m.get("gpu") or f"{m.get('cores', '?')}-core CPU"
    return str(m)


def _flags(*lines: Line) -> str:
    """What a reader must know of where a figure's lines came from: transcribed without raw output, or
    measured on code that was never committed."""
    out = []
    if any("transcribed" in str(x.get("provenance", "")) for x in lines):
        out.append("transcribed, no raw output kept")
    if any("+uncommitted" in str(x.get("commit", "")) for x in lines):
        out.append("measured on uncommitted code")
    return f" [{'; '.join(out)}]" if out else ""


def _src(stem: str, figure: str) -> str:
    return f"[{stem}.jsonl](results/{stem}.jsonl) `{figure}`"


def _f(x: Any, digits: int = 2) -> str:
    try:
        return f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


SUPERNET = {"small": "quick.yaml weight-sharing proxies (64 px), 100 trials; retrains 2,000 x 4 epochs at 64 px",
            "long": "quick128.yaml weight-sharing proxies (128 px), 300 trials; retrains 6,000 x 8 epochs at 64 px"}
SUITE = "64 px CPU proxies (300 images x 2 epochs), 10 trials x 5 seeds; retrains 4,000 images x 6 epochs at 64 px"


@question("Does the pick beat the cheapest, a random architecture and the course report's model?")
def pick_vs_trivial(r: Results) -> list[Row]:
    rows = []
    for goal in _latest(r.get("gpu-evidence", []), figure="trivial_goal"):
        verdict = "yes" if goal["met"] else f"no: not below {', '.join(goal['not_beaten'])}"
        rows.append((verdict, f"{_machine(goal)}, 224 px, bench/gpu_evidence.py --size {goal['size']}, "
                     f"{str(goal['date'])[:10]}{_flags(goal)}", _src("gpu-evidence", "trivial_goal")))
    runs = [("suite-small", "small", SUITE), *(("supernet-study", size, text) for size, text in SUPERNET.items())]
    for stem, size, scope in runs:
        for goal in _latest(r.get(stem, []), figure="trivial_goal", size=size):
            rows.append((_goal_text(goal), f"{_machine(goal)}, {scope}, {str(goal['date'])[:10]}{_flags(goal)}",
                         _src(stem, "trivial_goal")))
    return rows


def _goal_text(goal: Line) -> str:
    beaten, missed = goal.get("beaten") or [], goal.get("not_beaten") or []
    text = ("yes" if goal.get("met") else "no") + f": below {', '.join(beaten) or 'none'}"
    text += f"; not below {', '.join(missed)}" if missed else ""
    if "pick_over_course_report" in goal:
        text += f"; pick / course report's model = {goal['pick_over_course_report']}"
    return text


@question("Is TPE faster than random search?")
def tpe_vs_random(r: Results) -> list[Row]:
    arm = _latest(r.get("suite-small", []), figure="four_arms", arm="tpe_prune")
    if not arm:
        return []
    a = arm[0]
    ratio, seeds = a["time_ratio_median"], int(a.get("seeds", 5))
    met = ratio != "inf" and float(ratio) <= 0.5
    return [(f"{'yes' if met else 'no'}: TPE + pruning reached plain Random's final best in "
             f"{round(float(a['reached_share']) * seeds)} of {seeds} seeds (time ratio median {ratio}; goal <= 0.5)",
             f"{_machine(a)}, {SUITE}, {str(a['date'])[:10]}{_flags(a)}", _src("suite-small", "four_arms"))]


@question("How much training does pruning save?")
def pruning_saves(r: Results) -> list[Row]:
    rows = []
    for s in _latest(r.get("gpu-evidence", []), figure="study"):
        rows.append((f"{_f(100 * float(s['pruning_saved_images_share']), 0)}% of the trained trials' images; "
                     f"{s['pruned']} pruned ({s['pruned_at_last_report']} at the last report), {s['skipped']} skipped",
                     f"{_machine(s)}, {s['size_px']} px, proxy {s['proxy']['train_images']} images x "
                     f"{s['proxy']['epochs']} epochs, {str(s['date'])[:10]}{_flags(s)}", _src("gpu-evidence", "study")))
    for p in _latest(r.get("suite-small", []), figure="pruning"):
        rows.append((f"{p['sampler']}: {_f(100 * float(p['saved_share_median']), 0)}% of the wall time (median of 5)",
                     f"{_machine(p)}, {SUITE} (per-epoch pruning, before checks within epochs), "
                     f"{str(p['date'])[:10]}{_flags(p)}", _src("suite-small", "pruning")))
    return rows


@question("Is the pre-training skip safe?")
def skip_safe(r: Results) -> list[Row]:
    latest = _latest(r.get("skip-audit", []), figure="skip_replay")
    rows = []
    for study in dict.fromkeys(x["study"] for x in latest):
        sound = [x for x in latest if x["study"] == study and x["rule"] == "sound"]
        first_form = [x for x in latest if x["study"] == study and x["rule"] == "first"]
        head = sound[0]
        saved = [float(x["saved_seconds_share"]) for x in sound]
        text = (f"{sum(int(x['false_skips']) for x in sound)} false skips in {sum(int(x['decisions']) for x in sound)} "
                f"decisions ({sum(int(x['at_risk']) for x in sound)} trials at risk); it saved "
                f"{_f(100 * min(saved), 0)}-{_f(100 * max(saved), 0)}% of the training seconds. The rule's first form "
                f"on the same replays: {sum(int(x['false_skips']) for x in first_form)} false skips")
        rows.append((text, f"{head.get('device')}, {head.get('size_px')} px proxies, {head['trials']} recorded trials "
                     f"(errors {head.get('px_error_range')} px), {head['orders']} orders x workers "
                     f"{', '.join(sorted({str(x['workers']) for x in sound}))}, {str(head['date'])[:10]}"
                     f"{_flags(*sound)}",
                     _src("skip-audit", "skip_replay")))
    return rows


@question("How well does the proxy rank architectures?")
def proxy_rank(r: Results) -> list[Row]:
    rows = []
    for stem, scope in (("gpu-evidence", "224 px GPU proxies"), ("suite-small", SUITE)):
        for f in _latest(r.get(stem, []), figure="fidelity"):
            ci = f.get("kendall_tau_error_ci", ["?", "?"])
            cost_only = _f(f["cost_only_kendall_tau_error"])
            rows.append((f"Kendall tau on error {_f(f['kendall_tau_error'])} [{_f(ci[0])}, {_f(ci[1])}] over "
                         f"{f['n']} retrained architectures; ranking by cost alone {cost_only}",
                         f"{_machine(f)}, {scope}, {str(f['date'])[:10]}{_flags(f)}", _src(stem, "fidelity")))
    return rows


@question("How fast is the trainer?")
def trainer_speed(r: Results) -> list[Row]:
    rows = []
    lines = r.get("trainer-format", [])
    for device in dict.fromkeys(str(x.get("device", "cpu")).split(":")[0] for x in lines):
        last = _latest([x for x in lines if str(x.get("device", "cpu")).startswith(device)])
        ratios = [f"{x['model']} {x['size_px']} px b{x['batch_size']}: {x['trainer_vs_best']}" for x in last
                  if "trainer_vs_best" in x]
        if ratios:
            rows.append(("trainer / best plain loop: " + "; ".join(ratios),
                         f"{_machine(last[0])}, {str(last[0]['date'])[:10]}{_flags(*last)}",
                         _src("trainer-format", "trainer_format")))
    return rows


@question("How do workers scale?")
def workers_scale(r: Results) -> list[Row]:
    rows = []
    gpu = _latest(r.get("gpu-workers", []))
    if gpu:
        rows.append(("combined images/s: " + ", ".join(f"{x['workers']} -> {x['combined_images_per_s']}" for x in gpu),
                     f"{_machine(gpu[0])}, {gpu[0]['size_px']} px, batch {gpu[0]['batch_size']}, "
                     f"{str(gpu[0]['date'])[:10]}{_flags(*gpu)}", _src("gpu-workers", "gpu_workers")))
    cpu = [x for x in _latest(r.get("workers-threads", [])) if x.get("combined_images_per_s") is not None]
    if cpu:
        rows.append(("combined images/s: " + ", ".join(f"{x.get('arm_name')} -> {x.get('combined_images_per_s')}"
                                                        for x in cpu),
                     f"{_machine(cpu[0])}, {cpu[0].get('train_images')} images, {str(cpu[0]['date'])[:10]}"
                     f"{_flags(*cpu)}",
                     _src("workers-threads", "workers_threads")))
    return rows


def answer_rows(results: Results) -> list[tuple[str, str, str, str]]:
    """(question, answer, scope, source) for every question; unmeasured ones say so."""
    out = []
    for text, fn in QUESTIONS.items():
        rows: Sequence[Row] = fn(results) or [("not measured yet", "-", "-")]
        out += [(text, *row) for row in rows]
    return out
