"""The questions a user asks of the results, answered from the raw lines: the table that opens
docs/results.md. A registry: each question is one function from the results (file stem -> lines)
to rows of (answer, scope, source); a question nothing has measured yet says so.

Every answer is computed from the latest lines of its benchmark; the scope names the device, the
input size, the budget and the date, so no figure reads as holding beyond where it was measured.
Every line an answer rests on is flagged in its scope when it was transcribed without raw output or
measured on uncommitted code (`line_flags`), and `cited_lines` lists them for the page.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nas.search.noise import NOISE_ICC_FLOOR, icc1, icc1_interval, icc_verdict

__all__ = ["QUESTIONS", "answer_rows", "cited_lines", "line_flags"]

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


def _when(date: Any) -> str:
    """A run's date to the minute (`2026-12-05 08:51`): what tells apart runs of one day."""
    return str(date)[:16].replace("T", " ")


def _machine(line: Line) -> str:
    m = line.get("machine")
    if isinstance(m, dict):
        return m.get("gpu") or f"{m.get('cores', '?')}-core CPU"
    return str(m)


TRANSCRIBED, UNCOMMITTED = "transcribed, no raw output kept", "measured on uncommitted code"


def line_flags(line: Line) -> list[str]:
    """What a reader must know of where one line came from: transcribed without raw output, or
    measured on code that was never committed (none: measured, raw, on a commit)."""
    out = []
    if "transcribed" in str(line.get("provenance", "")):
        out.append(TRANSCRIBED)
    if "+uncommitted" in str(line.get("commit", "")):
        out.append(UNCOMMITTED)
    return out


_CITED: list[Line] | None = None  # while cited_lines runs: every line an answer's scope names


def _flags(*lines: Line) -> str:
    """The flags of the lines a figure rests on, for its scope (and, in cited_lines, the lines noted)."""
    if _CITED is not None:
        _CITED.extend(lines)
    out = list(dict.fromkeys(f for x in lines for f in line_flags(x)))
    return f" [{'; '.join(out)}]" if out else ""


def _src(stem: str, figure: str) -> str:
    return f"[{stem}.jsonl](results/{stem}.jsonl) `{figure}`"


def _f(x: Any, digits: int = 2) -> str:
    """A figure to `digits` decimals; null (undefined, e.g. a tau over tied errors) as n/a."""
    if x is None:
        return "n/a"
    try:
        return f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


SUPERNET = {"small": "quick.yaml weight-sharing proxies (64 px), 100 trials; retrains 2,000 x 4 epochs at 64 px",
            "long": "quick128.yaml weight-sharing proxies (128 px), 300 trials; retrains 6,000 x 8 epochs at 64 px"}
SUITE_PROXY, SUITE_RETRAIN = "64 px CPU proxies (300 images x 2 epochs)", "retrains 4,000 images x 6 epochs at 64 px"
SUITE = f"{SUITE_PROXY}, 10 trials x 5 seeds; {SUITE_RETRAIN}"


# bench/gpu_evidence.py's saved studies, by the --size that writes them (docs/results/<stem>.jsonl)
EVIDENCE = {"gpu": "gpu-evidence", "cpu224": "evidence-224-cpu"}
# bench/skip_audit.py's recorded studies that train every trial, by the --size that records them
AUDIT_STUDIES = {"cpu": "skip-audit-study-cpu", "cpu224": "skip-audit-study-cpu224"}


def _evidence_scope(line: Line) -> str:
    return f"{line.get('input_px', 224)} px, bench/gpu_evidence.py --size {line['size']}"


@question("Does the pick beat the cheapest, a random architecture and the course report's model?")
def pick_vs_trivial(r: Results) -> list[Row]:
    rows = []
    for stem in EVIDENCE.values():  # every run, newest first: one run's verdict alone would hide the others'
        goals = sorted((x for x in r.get(stem, []) if x.get("figure") == "trivial_goal"),
                       key=lambda x: str(x["date"]), reverse=True)
        for goal in goals:
            ratios = {x["role"]: x["pick_over_this"] for x in r.get(stem, []) if x.get("figure") == "trivial"
                      and str(x["date"]) == str(goal["date"]) and "pick_over_this" in x}
            rows.append((_goal_text(goal, ratios), f"{_machine(goal)}, {_evidence_scope(goal)}{_seeds_short(goal)}, "
                         f"{_when(goal['date'])}{_flags(goal)}", _src(stem, "trivial_goal")))
    runs = [("suite-small", "small", SUITE), *(("supernet-study", size, text) for size, text in SUPERNET.items())]
    for stem, size, scope in runs:
        for goal in _latest(r.get(stem, []), figure="trivial_goal", size=size):
            behind = _study_behind(r.get(stem, []), goal) if stem == "supernet-study" else []
            variant = f", {_VARIANT[behind[0]['variant']]}" if behind and behind[0].get("variant") in _VARIANT else ""
            rows.append((_goal_text(goal), f"{_machine(goal)}, {scope}{variant}, {str(goal['date'])[:10]}"
                         f"{_flags(goal, *behind)}", _src(stem, "trivial_goal")))
    return rows


def _seeds_short(goal: Line) -> str:
    """", 2 of 3 seeds" where a run's budget ended its retrains before every planned seed, else nothing."""
    seeds, planned = goal.get("seeds"), goal.get("seeds_planned")
    return f", {seeds} of {planned} seeds" if seeds is not None and planned is not None and seeds < planned else ""


_VARIANT = {"supernet": "parents without distillation", "supernet_distill": "parents with distillation"}


def _study_behind(lines: list[Line], goal: Line) -> list[Line]:
    """The study line whose pick a supernet-study retrain took: the latest at the size before it."""
    found = [x for x in lines if x.get("figure") == "study" and x.get("size") == goal.get("size")
             and str(x["date"]) <= str(goal["date"])]
    return [max(found, key=lambda x: str(x["date"]))] if found else []


def _goal_text(goal: Line, ratios: Mapping[str, Any] | None = None) -> str:
    """Met or not, the roles the pick is below and not below, each with the pick's mean score over its
    (`ratios`, where the run wrote them)."""
    def named(roles: list[str]) -> str:
        return ", ".join(f"{role} ({float(ratios[role]):.2g}x)" if ratios and role in ratios else role
                         for role in roles)

    if goal.get("seeds") == 0:  # the run's retrains ended before any seed was done for every role
        return str(goal["goal"])
    beaten, missed = goal.get("beaten") or [], goal.get("not_beaten") or []
    text = ("yes" if goal.get("met") else "no") + f": below {named(beaten) or 'none'}"
    text += f"; not below {named(missed)}" if missed else ""
    text += " (in brackets the pick's mean score over the role's)" if ratios else ""
    text += f" (the pick is {' and '.join(goal['pick_is'])}'s architecture)" if goal.get("pick_is") else ""
    if "pick_over_course_report" in goal:
        text += f"; pick / course report's model = {goal['pick_over_course_report']}"
    return text


@question("In a proxy study, does the cheapest architecture come first, or does the error decide?")
def cost_or_error(r: Results) -> list[Row]:
    """Per recorded study (gpu_evidence.py's latest run; every study skip_audit.py recorded): the best
    complete trial against the space's cheapest, and the spread of the errors, so the claim "the
    cheapest is the right pick" reads with its scope."""
    rows = []
    runs = [(stem, _latest(r.get(stem, []), figure="trial")) for stem in EVIDENCE.values()]
    for stem in AUDIT_STUDIES.values():
        lines = [x for x in r.get(stem, []) if x.get("figure") == "trial"]
        runs += [(stem, [x for x in lines if str(x["date"]) == date])
                 for date in dict.fromkeys(str(x["date"]) for x in lines)]
    for stem, run in runs:
        trials = [x for x in run if x.get("state") == "COMPLETE" and x.get("score") is not None and not x.get("repeat")]
        cheapest = [x for x in trials if x.get("baseline") == "space_cheapest"]
        if not cheapest:
            continue
        best, errors = min(trials, key=lambda x: float(x["score"])), [float(x["px_error"]) for x in trials]
        c = cheapest[0]
        who = "the cheapest" if best is c else f"{best['arch']} ({_as_baseline(best)}aug {best.get('aug')})"
        text = (f"{'cost' if best is c else 'error'}: {who} scored best; the cheapest "
                f"(aug {c.get('aug')}) {float(c['score']) / float(best['score']):.3g}x the best's score at "
                f"{float(c['px_error']):.1f} px; errors {min(errors):.1f}-{max(errors):.1f} px")
        seed = f", sampler seed {best['sampler_seed']}" if "sampler_seed" in best else ""
        rows.append((text, f"{_machine(best)}, {best.get('size_px')} px proxies (errors at {best.get('input_px', 224)} "
                     f"px), {len(trials)} complete trials of one study{seed}, {_when(best['date'])}{_flags(best)}",
                     _src(stem, "trial")))
    return rows


def _as_baseline(line: Line) -> str:
    return f"the baseline {line['baseline']}, " if line.get("baseline") else ""


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
    for stem in EVIDENCE.values():
        for s in _latest(r.get(stem, []), figure="study"):
            rows.append((f"{_saved_text(s)}; {s['pruned']} pruned, {s['skipped']} skipped",
                         f"{_machine(s)}, {s['size_px']} px, proxy {s['proxy']['train_images']} images x "
                         f"{s['proxy']['epochs']} epochs, {str(s['date'])[:10]}{_flags(s)}", _src(stem, "study")))
    for p in _latest(r.get("suite-small", []), figure="pruning"):
        wall = f"{_f(100 * float(p['saved_share_median']), 0)}% of the wall time (median of 5, with the skip)"
        checks = (f"checks {p['checks_per_epoch']} per epoch" if "checks_per_epoch" in p
                  else "per-epoch pruning, before checks within epochs")
        rows.append((f"{p['sampler']}: " + (f"{_saved_text(p)}; {wall}" if "pruning_saved_share" in p else wall),
                     f"{_machine(p)}, {SUITE} ({checks}), {str(p['date'])[:10]}{_flags(p)}",
                     _src("suite-small", "pruning")))
    return rows


def _saved_text(line: Line) -> str:
    return (f"pruning kept {_f(100 * float(line['pruning_saved_share']), 0)}% of the trained trials' passes over the "
            f"images from training ({line['pruned_at_last_report']} prunes at a budget's end); the skipped trials' "
            f"budgets were {_f(100 * float(line['skipped_budget_share']), 0)}% of all")


@question("Is the pre-training skip safe?")
def skip_safe(r: Results) -> list[Row]:
    """Per recorded study, the replays with its baselines and those without them apart: where a
    baseline is the study's best, only the replays without them have decisions that could fail."""
    latest = _latest(r.get("skip-audit", []), figure="skip_replay")
    rows = _skip_totals([x for x in latest if x["rule"] == "sound" and "decisive" in x])
    for study in dict.fromkeys(x["study"] for x in latest):
        for part, label in (({"first", "anywhere", None}, "with its baselines"), ({"none"}, "without baselines")):
            mine = [x for x in latest if x["study"] == study and x.get("baselines") in part]
            sound = [x for x in mine if x["rule"] == "sound"]
            if not sound:
                continue
            rows.append((_replay_text(sound, mine),
                         _replay_scope(sound, f"{label} (errors {sound[0].get('px_error_range')} px)"),
                         _src("skip-audit", "skip_replay")))
    suite = _latest(r.get("suite-small", []), figure="skip_replay")
    sound = [x for x in suite if x.get("rule") == "sound"]
    if sound:
        errors = [e for x in sound for e in x.get("px_error_range") or []]
        rows.append((_replay_text(sound, suite),
                     f"{_machine(sound[0])}, {SUITE_PROXY}, the suite's {len({(x['arm'], x['seed']) for x in sound})} "
                     f"runs that train every trial ({sound[0]['trials']} trials each, errors "
                     f"[{min(errors)}, {max(errors)}] px), {sound[0]['orders']} orders x workers "
                     f"{', '.join(sorted({str(x['workers']) for x in sound}))}, {str(sound[0]['date'])[:10]}"
                     f"{_flags(*sound)}", _src("suite-small", "skip_replay")))
    return rows


def _skip_totals(sound: list[Line]) -> list[Row]:
    """One row per proxy size: the rule's replays of every recorded study summed, before the rows per study."""
    rows = []
    for size in sorted({x["size_px"] for x in sound}, reverse=True):
        mine = [x for x in sound if x["size_px"] == size]
        studies = {x["study"] for x in mine}
        rows.append((f"all studies together: {sum(int(x['false_skips']) for x in mine)} false skips in "
                     f"{sum(int(x['decisions']) for x in mine)} decisions, {sum(int(x['decisive']) for x in mine)} "
                     f"of them decisive (the trial beat every other one the replay trained); it saved "
                     f"{_saved_range(mine)}",
                     f"{mine[0].get('device')}, {size} px proxies, {len(studies)} recorded "
                     f"{'study' if len(studies) == 1 else 'studies'}, each replayed "
                     f"with and without its baselines, {str(mine[0]['date'])[:10]}{_flags(*mine)}",
                     _src("skip-audit", "skip_replay")))
    return rows


def _replay_scope(lines: list[Line], which: str) -> str:
    """A recorded study's replay lines' scope: device, proxy size, trials (`which` ones), orders, workers."""
    head, workers = lines[0], sorted({str(x["workers"]) for x in lines})
    recorded = _when(str(head["study"]).split(":", 2)[-1])  # the key: file:name:date recorded
    return (f"{head.get('device')}, {head.get('size_px')} px proxies, {head['trials']} recorded trials {which} "
            f"(study of {recorded}), {head['orders']} orders x workers {', '.join(workers)}, "
            f"{str(head['date'])[:10]}{_flags(*lines)}")


def _replay_text(sound: list[Line], replays: list[Line]) -> str:
    """The rule's false skips, their power and the saving, beside its earlier forms' on the same replays."""
    if all("decisive" in x for x in sound):
        power = (f"{sum(int(x['decisive']) for x in sound)} of them could have failed: the trial beat every "
                 "other one the replay trained")
    else:  # lines written before the decisive count: the looser one
        power = f"{sum(int(x['at_risk']) for x in sound)} trials at risk"
    rule = (f" (margin {float(sound[0]['margin_px']):g} px, {sound[0]['min_peers']} peers)" if "min_peers" in sound[0]
            else "")
    text = "" if rule else "the rule's second form (peers by cost alone, one enough), replayed before it changed: "
    text += (f"{sum(int(x['false_skips']) for x in sound)} false skips in {sum(int(x['decisions']) for x in sound)} "
             f"decisions{rule} ({power}); it saved {_saved_range(sound)}")
    for name, label in (("cost_peers", "second form (peers by cost alone, one enough)"), ("first", "first form")):
        earlier = [x for x in replays if x.get("rule") == name]
        if earlier:
            text += f". Its {label} on the same replays: {sum(int(x['false_skips']) for x in earlier)} false skips"
    return text


@question("What margin does the skip need, and what does it save there?")
def skip_margin(r: Results) -> list[Row]:
    """Per recorded study, the smallest swept margin with no false skip at it or above, at any worker
    count (replays without baselines), and the training saved there and at the smallest margin."""
    latest = _latest(r.get("skip-audit", []), figure="skip_margin")
    rows = []
    for study in dict.fromkeys(x["study"] for x in latest):
        by_margin: dict[float, list[Line]] = {}
        for x in (x for x in latest if x["study"] == study):
            by_margin.setdefault(float(x["margin_px"]), []).append(x)
        margins = sorted(by_margin)
        falls = {m: sum(int(x["false_skips"]) for x in by_margin[m]) for m in margins}
        safe = next((m for m in margins if not any(falls[n] for n in margins if n >= m)), None)
        text = ("none of the swept margins" if safe is None else
                f"{safe:g} px (no false skip at it or above); it saves {_saved_range(by_margin[safe])} there")
        text += f". At {margins[0]:g} px: {falls[margins[0]]} false skips, {_saved_range(by_margin[margins[0]])} saved"
        which = f"without baselines, margins {', '.join(f'{m:g}' for m in margins)} px"
        rows.append((text, _replay_scope([x for m in margins for x in by_margin[m]], which),
                     _src("skip-audit", "skip_margin")))
    return rows


def _saved_range(lines: list[Line]) -> str:
    saved = [100 * float(x["saved_seconds_share"]) for x in lines]
    lo, hi = _f(min(saved), 0), _f(max(saved), 0)
    return f"{lo if lo == hi else f'{lo}-{hi}'}% of the training seconds"


@question("How well does the proxy rank architectures?")
def proxy_rank(r: Results) -> list[Row]:
    rows = []
    for stem in (*EVIDENCE.values(), "suite-small"):
        for f in _latest(r.get(stem, []), figure="fidelity"):
            scope = SUITE if stem == "suite-small" else _evidence_scope(f)
            ci = f.get("kendall_tau_error_ci", ["?", "?"])
            cost_only = _f(f["cost_only_kendall_tau_error"])
            score = (f"{_f(f.get('kendall_tau_score'))} beside cost alone's "
                     f"{_f(f.get('cost_only_kendall_tau_score', 'n/a'))}")
            rows.append((f"Kendall tau on error {_f(f['kendall_tau_error'])} [{_f(ci[0])}, {_f(ci[1])}] over "
                         f"{f['n']} retrained architectures; ranking by cost alone {cost_only} (tau on score, "
                         f"{score}, is mostly cost, not proxy quality){_budget_said(stem, f)}"
                         + (f"; left out, the time up before their proxy training: {', '.join(f['left_out'])}"
                            if f.get("left_out") else ""),
                         f"{_machine(f)}, {scope}, {str(f['date'])[:10]}{_flags(f)}", _src(stem, "fidelity")))
    return rows


def _budget_said(stem: str, fidelity: Line) -> str:
    """gpu_evidence.py's runs before every proxy error was taken at one multiplier say so."""
    if stem not in EVIDENCE.values() or "proxy_aug" in fidelity:
        return ""
    return "; its proxy errors mix training budgets (the study's trials at the multipliers they drew)"


SIZES = {"small": "quick.yaml, 64 px, 6 min (360 s) per arm", "long": "quick128.yaml, 128 px, 60 min per arm"}


@question("Do weight-sharing proxies rank better than scratch proxies at equal time?")
def weight_sharing_vs_scratch(r: Results) -> list[Row]:
    """Both weight-sharing variants at both budgets, each against scratch, never the better one per
    budget: a variant chosen on these 12 architectures would flatter its own tau."""
    lines, rows = r.get("supernet", []), []
    for size, budget in SIZES.items():
        if not _latest(lines, figure="arm", size=size):
            continue  # nothing measured at this budget
        scratch = _latest(lines, figure="arm", size=size, arm="scratch")
        cost = _latest(lines, figure="cost_only", size=size)
        for variant, label in (("supernet", "without distillation"), ("supernet_distill", "with distillation")):
            arm = _latest(lines, figure="arm", size=size, arm=variant)
            if not arm:
                rows.append((f"{label}: not measured", f"{budget}", _src("supernet", "arm")))
                continue
            a, used = arm[0], [arm[0], *scratch[:1], *cost[:1]]
            text = f"{label}: Kendall tau on error {_f(a['kendall_tau_error'])} {_ci(a.get('kendall_tau_error_ci'))}"
            text += f" vs scratch {_f(scratch[0]['kendall_tau_error'])}" if scratch else "; scratch not measured"
            pair = _latest(lines, figure="arm_pair", size=size, arm=variant, against="scratch")
            if pair and scratch:
                used.append(pair[0])
                text += (f", difference {_f(pair[0]['kendall_tau_error_difference'])} "
                         f"{_ci(pair[0].get('difference_ci'))} (paired bootstrap)")
            if cost:
                text += f"; ranking by cost alone {_f(cost[0]['kendall_tau_error'])}"
            rows.append((text, f"{_machine(a)}, {budget}, 12 architectures against their mean over 3 long "
                         f"from-scratch trainings; {str(a['date'])[:10]}{_flags(*used)}", _src("supernet", "arm")))
    return rows


def _ci(ci: Any) -> str:
    return f"[{_f(ci[0])}, {_f(ci[1])}]" if isinstance(ci, list) and len(ci) == 2 else ""


@question("Do the errors tell architectures apart beyond seed noise?")
def seed_noise(r: Results) -> list[Row]:
    """The intraclass correlation of the recorded seed groups, computed here from their values (lines
    before the `icc` field lack it): the share of an error's variance that is the architecture's."""
    rows = []
    for line in _latest(r.get("suite-small", []), figure="proxy_noise"):
        groups = line.get("errors_by_arch") or {}
        rows.append(("proxy: " + _icc_text(groups, line.get("snr")),
                     f"{_machine(line)}, {SUITE_PROXY}, {len(groups)} architectures x {_seeds(groups)} "
                     f"seeds, {str(line['date'])[:10]}{_flags(line)}", _src("suite-small", "proxy_noise")))
    noise = _latest(r.get("suite-small", []), figure="retrain_noise")[:1]
    rows += [_retrain_noise(r, "suite-small", line, SUITE_RETRAIN) for line in noise]
    for stem in EVIDENCE.values():
        rows += [_retrain_noise(r, stem, line) for line in _latest(r.get(stem, []), figure="retrain_noise")]
    for size, scope in SUPERNET.items():
        trivial = _latest(r.get("supernet-study", []), figure="trivial", size=size)
        noise = _latest(r.get("supernet-study", []), figure="retrain_noise", size=size)
        if trivial and noise:
            groups = _by_arch((x["arch"], i, e) for x in trivial for i, e in enumerate(x.get("px") or []))
            rows.append(("retrain recipe: " + _icc_text(groups, noise[0].get("snr")),
                         f"{_machine(noise[0])}, {scope.split('; ')[1]}, {len(groups)} architectures x "
                         f"{_seeds(groups)} seeds, {str(noise[0]['date'])[:10]}{_flags(noise[0], *trivial)}",
                         _src("supernet-study", "retrain_noise")))
    return rows


def _retrain_noise(r: Results, stem: str, noise: Line, scope: str | None = None) -> Row:
    """A retrain recipe's seed noise, its groups from the run's `retrain` lines (the fidelity step's
    own retrains left out); `scope` names the recipe, else the run's lines do (gpu_evidence.py's)."""
    retrains = [x for x in _latest(r.get(stem, []), figure="retrain", date=noise["date"])
                if not str(x.get("role", "")).startswith("fidelity")]
    groups = _by_arch((x["arch"], x["seed"], x["px_error"]) for x in retrains)
    if scope is None:
        images, epochs = (retrains[0]["images"][0], retrains[0]["recipe"]["epochs"]) if retrains else ("?", "?")
        scope = f"{_evidence_scope(noise)}: retrains {images} images x {epochs} epochs"
    return ("retrain recipe: " + _icc_text(groups, noise.get("snr")),
            f"{_machine(noise)}, {scope}, {len(groups)} architectures x {_seeds(groups)} seeds, "
            f"{str(noise['date'])[:10]}{_flags(noise, *retrains)}", _src(stem, "retrain_noise"))


def _by_arch(cells: Iterable[tuple[str, Any, float]]) -> dict[str, list[float]]:
    """Seed groups by architecture, each (architecture, seed) once (two roles may share one)."""
    out: dict[str, dict[Any, float]] = {}
    for arch, seed, error in cells:
        out.setdefault(arch, {})[seed] = float(error)
    return {arch: list(by_seed.values()) for arch, by_seed in out.items()}


def _seeds(groups: Any) -> str:
    sizes = sorted({len(v) for v in (groups or {}).values()})
    return "-".join(str(n) for n in sizes) or "?"


def _icc_text(groups: Mapping[str, list], snr: Any) -> str:
    values = [list(map(float, v)) for v in groups.values() if len(v) >= 2]
    icc = icc1(values)
    if icc != icc:  # NaN
        return "n/a: fewer than 2 architectures measured with several seeds"
    ci = icc1_interval(values)
    verdict = {"separates": "yes", "cannot tell apart": "no"}.get(icc_verdict(icc, ci), "not settled")
    old = f"; the old ratio of spreads (snr {snr}) counts the noise in its spread and said {_snr_said(snr)}" if (
        snr is not None and verdict != "not settled" and (float(snr) >= 2) != (verdict == "yes")) else ""
    interval = f", 95% interval [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
    return (f"{verdict}: intraclass correlation {icc:.2f}{interval}; {max(icc, 0):.0%} of an error's variance is the "
            f"architecture's, the rest seed noise (separates when the interval lies at or above {NOISE_ICC_FLOOR})"
            f"{old}")


def _snr_said(snr: Any) -> str:
    return "it separates" if float(snr) >= 2 else "it cannot"


def _latest_per_device(lines: list[Line]) -> list[list[Line]]:
    """The latest run's lines per device type (cpu, cuda: every cuda:N together), in order of appearance."""
    kind = [str(x.get("device", "cpu")).split(":")[0] for x in lines]
    return [_latest([x for x, k in zip(lines, kind) if k == device]) for device in dict.fromkeys(kind)]


@question("How fast is the trainer?")
def trainer_speed(r: Results) -> list[Row]:
    rows = []
    for last in _latest_per_device(r.get("trainer-format", [])):
        ratios = [f"{x['model']} {x['size_px']} px b{x['batch_size']}: {x['trainer_vs_best']}" for x in last
                  if "trainer_vs_best" in x]
        if ratios:
            rows.append(("trainer / best plain loop: " + "; ".join(ratios),
                         f"{_machine(last[0])}, {str(last[0]['date'])[:10]}{_flags(*last)}",
                         _src("trainer-format", "trainer_format")))
    return rows


@question("Does evaluation pay to capture as a CUDA graph?")
def evaluation_share(r: Results) -> list[Row]:
    """From the trainer benchmark's evaluation arms: evaluation's share of a gpu.yaml trial at
    multiplier 1 and what capturing it would save, both estimates from measured images/s."""
    rows = []
    for last in _latest_per_device([x for x in r.get("trainer-format", []) if "eval_share_estimate" in x]):
        parts = [f"{x['model']} b{x['batch_size']}: {x['eval_share_estimate']:.0%}" + _eval_savings(x) for x in last]
        rows.append(("evaluation's share of a gpu.yaml trial at multiplier 1 (estimate): " + "; ".join(parts),
                     f"{_machine(last[0])}, {last[0]['size_px']} px, {str(last[0]['date'])[:10]}{_flags(*last)}",
                     _src("trainer-format", "trainer_format")))
    return rows


def _eval_savings(line: dict) -> str:
    """What each captured evaluation arm of a trainer-format line would save, in brackets, if measured."""
    said = [f"{what} saves {line[key]:.0%}" for key, what in (("eval_graph_saves_estimate", "eval_graph: on"),
                                                             ("eval_bf16_graph_saves_estimate", "bfloat16 captured"))
            if key in line]
    return f" ({', '.join(said)})" if said else ""


@question("How do workers scale?")
def workers_scale(r: Results) -> list[Row]:
    rows = []
    gpu = _latest(r.get("gpu-workers", []))
    if gpu:
        rows.append(("combined images/s, summed over the workers (over the wall time of all their timed epochs): "
                     + ", ".join(f"{x['workers']} -> {x['combined_images_per_s']}"
                                 f" ({x.get('combined_span_images_per_s', 'not measured')})" for x in gpu),
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


def cited_lines(results: Results) -> list[tuple[str, Line]]:
    """(question, line) for every line an answer rests on, each once per question, in table order."""
    global _CITED
    out: list[tuple[str, Line]] = []
    for text, fn in QUESTIONS.items():
        _CITED = []
        try:
            fn(results)
            seen = set()
            for line in _CITED:
                if id(line) not in seen:
                    seen.add(id(line))
                    out.append((text, line))
        finally:
            _CITED = None
    return out
