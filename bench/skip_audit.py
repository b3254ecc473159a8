"""The pre-training skip audited by replay: recorded studies replayed with the skip active, in many
random orders and over 1 and 8 workers, baselines included (the arithmetic: bench/common/replay.py).

    .venv/bin/python bench/skip_audit.py --steps record --save   # a CPU study that trains every trial
    .venv/bin/python bench/skip_audit.py --steps record --size cpu224 --save   # the same, proxies at 224 px
    .venv/bin/python bench/skip_audit.py --steps record --size cpu224 --seed 1 --save   # another draw of it
    .venv/bin/python bench/skip_audit.py --save                  # replay every recorded study
    .venv/bin/python bench/skip_audit.py --steps record,replay --size smoke   # a pipeline check

Recorded studies are the `trial` lines of docs/results/skip-audit-study-<size>.jsonl (`record`: the
default space's architectures and cost at 224 px, proxies at 64 px (`cpu`) or at 224 px (`cpu224`,
the size at which the skip's first form threw candidates away on a GPU) on this CPU, no skip and no
pruning, so every trial has its error) and of docs/results/gpu-evidence.jsonl and
evidence-224-cpu.jsonl (bench/gpu_evidence.py's 224 px studies, on a GPU and on this CPU, which ran
with the skip and pruning: their complete trials are replayed).
Each study is replayed under three rules, with the margin and peers default.yaml sets: `sound`
(nas.search.skip, what studies run: at least `min_peers` complete trials at least as dear and trained at
least as many passes), `cost_peers` (its second form: every complete trial at least as dear, however
long it trained, one enough) and `first` (its first form, the lowest error of any complete trial as
evidence for every candidate), over 1 and 8 workers, with its baselines first, anywhere, or left out.
Each line counts its `decisive` decisions, the only ones that could have been false skips
(common/replay.py): where a baseline is the study's best, the replays with it have none, and only those
without baselines test the rule (studies recorded before baselines trained within the space's
multipliers gave them 7 passes against the candidates' 1-3, and a baseline was the best in each).
`figure: skip_margin` lines sweep the sound rule's margin (1-5 px) on the replays without baselines.
Recorded studies run before the rule took peers' multipliers into account are replayed the same way:
the rule's decisions depend only on the trials' costs, errors and multipliers, which every line holds.
Lines go to docs/results/skip-audit.jsonl with --save. Goal: 0 false skips.
"""
from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import optuna
import yaml
from common.answers import AUDIT_STUDIES, EVIDENCE
from common.arguments import doc_parser
from common.evidence import trial_lines
from common.replay import ORDERS, Recorded, margin_rows, replay_rows
from common.run_info import run_info

from nas.data import DataSpec, load_for_space
from nas.search import run_study
from nas.search.sampling import make_sampler
from nas.search.space import load_space, parse_space

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results"
SIZES = {  # a recorded CPU study: trials (or fewer when the timeout comes first), the proxy's keys changed
    # from default.yaml's, the multipliers trials draw (the course report's baselines: 7 brought into them;
    # the recorded studies, before that, trained them at 7)
    "cpu": dict(trials=44, proxy=dict(train_size=64, epochs=3, train_images=1000, val_images=300, batch_size=32),
                aug=(1, 2)),
    "cpu224": dict(trials=44, timeout_s=3600,
                   proxy=dict(train_size=224, epochs=2, train_images=800, val_images=150, batch_size=32), aug=(1, 3)),
    "smoke": dict(trials=6, proxy=dict(train_size=64, epochs=1, train_images=32, val_images=16, batch_size=16),
                  aug=(1, 1)),
}
SAVED = {size: RESULTS / f"{stem}.jsonl" for size, stem in AUDIT_STUDIES.items()}  # where --save records a size
SOURCES = (*SAVED.values(), *(RESULTS / f"{stem}.jsonl" for stem in EVIDENCE.values()))  # and gpu_evidence.py's studies


def record(size: str, out: Path, device: str, seed: int = 0) -> None:
    """One study of the default space (TPE seeded with `seed`, baselines first) that trains every trial
    to the end."""
    cfg = SIZES[size]
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw["proxy"].update(cfg["proxy"])
    raw["space"]["aug_multiplier"] = {"low": cfg["aug"][0], "high": cfg["aug"][1]}
    space = parse_space(raw, f"skip-audit-{size}")
    p = space.proxy
    data = load_for_space(DataSpec(seed=space.data.seed), p.train_images, p.val_images, p.train_size)
    study = optuna.create_study(study_name=f"skip-audit-{size}", sampler=make_sampler(space, seed),
                                pruner=optuna.pruners.NopPruner())
    study.set_user_attr("objective", "score")
    run_study(study, space, *data, trials=cfg["trials"], timeout=cfg.get("timeout_s"), device=device,
              skip_hopeless=False)
    context = {"bench": "skip_audit_study", **run_info("bench/skip_audit.py"), "size": size,
               "size_px": p.train_size, "input_px": space.input_size, "device": device,
               "margin_px": space.search.pre_train_margin_px, "proxy": cfg["proxy"], "aug": list(cfg["aug"]),
               "sampler_seed": seed}
    _write(out, [{**context, **line} for line in trial_lines(study)])


def recorded_studies(paths) -> dict[str, tuple[list[Recorded], dict]]:
    """(study key) -> its complete trials and its first line's context."""
    studies: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        if path.exists():
            for line in map(json.loads, path.read_text().splitlines()):
                if line.get("figure") == "trial":
                    studies[f"{path.name}:{line['study']}:{line['date']}"].append(line)
    out = {}
    for key, lines in studies.items():
        firsts = {}  # one trial per architecture and multiplier: a repeated draw is no new candidate
        for t in lines:
            if t["state"] == "COMPLETE" and t["px_error"] is not None and not t.get("repeat"):
                firsts.setdefault((t["arch"], t["aug"]), t)
        done = [Recorded(t["cost"], t["px_error"], t["train_seconds"] or 0.0, bool(t["baseline"]), int(t["aug"]))
                for t in firsts.values()]
        if done:
            out[key] = (done, lines[0])
    return out


def replay_all(paths, out: Path | None, orders: int) -> None:
    context = {"bench": "skip_audit", **run_info("bench/skip_audit.py")}
    search = load_space(ROOT / "search_spaces" / "default.yaml").search  # the rule as the 224 px spaces set it
    margin, peers = search.pre_train_margin_px, search.pre_train_min_peers
    for key, (trials, first) in recorded_studies(paths).items():
        if all(t.baseline for t in trials):  # baselines are never skipped: a replay would decide nothing
            print(f"{key}: not replayed, only baselines completed", file=sys.stderr)
            continue
        scope = {"study": key, "device": first.get("device"), "size_px": first.get("size_px")}
        rows = replay_rows(trials, margin, peers, orders)
        _write(out, [{**context, "figure": "skip_replay", **scope, **row} for row in rows])
        sweep = margin_rows(trials, peers, orders)
        _write(out, [{**context, "figure": "skip_margin", **scope, **row} for row in sweep])


CONTEXT = ("bench", "date", "machine", "commit", "command", "proxy")


def _write(out: Path | None, lines: list[dict]) -> None:
    for line in lines:
        print(json.dumps({k: v for k, v in line.items() if k not in CONTEXT}), flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


def main() -> None:
    ap = doc_parser(__doc__)
    ap.add_argument("--steps", default="replay", help="record, replay or record,replay (default replay)")
    ap.add_argument("--size", choices=sorted(SIZES), default="cpu", help="the recorded study's size (default cpu)")
    ap.add_argument("--device", default="cpu", help="the recorded study's device (default cpu)")
    ap.add_argument("--seed", type=int, default=0, help="the recorded study's sampler seed (default 0)")
    ap.add_argument("--orders", type=int, default=ORDERS, help=f"random orders per setting (default {ORDERS})")
    ap.add_argument("--save", action="store_true", help="append the lines to docs/results/ (else print only)")
    ap.add_argument("--source", type=Path, action="append", default=None,
                    help="a JSON lines file of recorded trials to replay (repeatable; default: the recorded CPU study "
                         "and bench/gpu_evidence.py's saved studies)")
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    if not steps <= {"record", "replay"} or args.orders < 1:
        ap.error(f"--steps takes record and/or replay, --orders at least 1; got {args.steps!r}, {args.orders}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smoke_out = ROOT / "reports" / "skip-audit-smoke.jsonl"
    if args.save and "record" in steps and args.size not in SAVED:
        ap.error(f"--save records only the sizes {', '.join(sorted(SAVED))}; --size {args.size} is a pipeline check")
    recorded = SAVED[args.size] if args.save else smoke_out
    t0 = time.perf_counter()
    if "record" in steps:
        record(args.size, recorded, args.device, args.seed)
    if "replay" in steps:
        sources = args.source or ([*SOURCES] if args.save else [recorded, *SOURCES])
        replay_all(sources, RESULTS / "skip-audit.jsonl" if args.save else None, args.orders)
    print(f"done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
