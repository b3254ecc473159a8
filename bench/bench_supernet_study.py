"""The evidence suite's headline and trivial baselines for a study with weight-sharing proxies: a
study as `handkp-search study` runs it (the CLI: TPE, pruning and the skip, the baselines first) in
proxy mode supernet, then its pick trained with one shared recipe beside the space's cheapest
architecture, three uniformly random ones and the course report's final model, several seeds each.

    .venv/bin/python bench/bench_supernet_study.py --size small --save   # quick.yaml: `make study`'s budget
    .venv/bin/python bench/bench_supernet_study.py --size long --save --parents supernet   # quick128.yaml
    # the retrains in two one-thread processes, then the figures (cells are kept, so nothing trains twice)
    .venv/bin/python bench/bench_supernet_study.py --size long --save --steps retrain --shard 1/2   # and 2/2
    .venv/bin/python bench/bench_supernet_study.py --size long --save --steps retrain
    .venv/bin/python bench/bench_supernet_study.py --size long --save --steps skip     # the skip's audit
    .venv/bin/python bench/bench_supernet_study.py --size smoke          # a pipeline check (figures meaningless)

The shared recipe is bench_supernet.py's truth recipe of the size (the same images, epochs,
learning rates and data for every architecture, augmentation multiplier 1; errors on the
validation split in deployed pixels, scores at the deployed input size): the training against
which that benchmark judged the proxies, so its cells are reused where an architecture recurs.
`--parents ARM` gives the study the parents bench_supernet.py saved for ARM at the size (`--save`)
instead of training them anew (the hour-long budget's ~53 minutes); the line says so, and names the
weight-sharing variant (`variant`: with or without distillation) the study used. That variant was
chosen per budget from bench_supernet.py's taus on its 12 architectures, which `best_measured`
ranks the pick among: read those ranks as not independent of the choice.
Goal (the evidence issue's): the pick's mean score below the cheapest's and every random one's.
Step `skip` (after `study`, from its stored parents) audits the pre-training skip with supernet
proxies: Random and TPE studies training every trial, each trial judged by the skip rule at its
start at several margins; false skips are those that beat the best of their moment.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import bench_supernet as bs
import torch
import yaml
from bench_make_study import run as run_cli
from bench_make_study import summary
from common.arguments import doc_parser
from common.benchmarks import trivial_goal
from common.evidence import ARMS, records, trivial_roles
from common.replay import from_records, replay_rows
from common.run_info import run_info

from nas.deploy.pick import pick
from nas.model.arch import ArchConfig
from nas.model.cost import count_cost, score
from nas.search.noise import proxy_noise
from nas.search.proxy.scratch import evaluate_candidate
from nas.search.proxy.supernet import ATTR_PREFIX, ParentStore
from nas.search.study import load_existing_study, open_study
from nas.search.workers.runner import run_study

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "supernet-study.jsonl"
TITLE = "A supernet study's pick against the trivial baselines, one shared recipe"
SIZES = {"small": dict(trials=100, random=3, audit_trials=100), "long": dict(trials=300, random=3, audit_trials=100),
         "smoke": dict(trials=6, random=1, audit_trials=6)}  # audit_trials: per study of the skip's audit
STEPS = ("study", "retrain", "skip")
SKIP_SEEDS = 5
NAME = "supernet-study"


def work_dir(size: str) -> Path:
    return ROOT / "reports" / "bench" / f"supernet-study-{size}"


def space_file(size: str, space, work: Path) -> Path:
    """The size's space file: the shipped one, or (smoke) the shrunk space bench_supernet uses."""
    if size != "smoke":
        return ROOT / "search_spaces" / bs.SIZES[size]["space"]
    path = work / "space.yaml"
    path.write_text(yaml.safe_dump(space.to_dict(), sort_keys=False))
    return path


def adopt_parents(size: str, arm: str, space, work: Path) -> dict:
    """bench_supernet's saved parents of `arm` stored as the study's own, before the CLI opens it."""
    saved = torch.load(bs._parents_path(size, arm), map_location="cpu")
    line = _latest_arm_line(size, arm)
    url = f"sqlite:///{work / 'study.db'}"
    store = ParentStore(open_study(NAME, url, "score", space), url)
    origin = f"bench_supernet.py --size {size} arm {arm}, trained {saved['trained']}"
    for backbone, state in saved["state"].items():
        store.adopt(space, backbone, 0, state, {"origin": origin, "epochs": line["parent_epochs"][backbone],
                                                "steps": line["parent_steps"][backbone]})
    return {"origin": origin, "parent_s_both": line["parent_s"], "parent_epochs": line["parent_epochs"]}


def _latest_arm_line(size: str, arm: str) -> dict:
    lines = [json.loads(x) for x in bs.RESULTS.read_text().splitlines() if x]
    found = [x for x in lines if x.get("size") == size and x.get("figure") == "arm" and x.get("arm") == arm]
    if not found:
        raise SystemExit(f"{bs.RESULTS}: no arm {arm} at size {size}; run bench_supernet.py --steps {arm} --save")
    return found[-1]


def study_step(args, space, emit) -> None:
    work = work_dir(args.size)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    adopted = adopt_parents(args.size, args.parents, space, work) if args.parents else None
    cli_args = ["study", "--space", str(space_file(args.size, space, work)), "--trials",
                str(SIZES[args.size]["trials"]), "--device", args.device]
    seconds = run_cli(cli_args, work, NAME, cache=ROOT / "reports" / "cache")
    study = load_existing_study(NAME, f"sqlite:///{work / 'study.db'}")
    picked = study.trials[int(pick(study)["number"])].user_attrs["arch"]
    emit({"figure": "study", "study_command": "handkp-search " + " ".join(cli_args[:5]), "study_s": round(seconds, 1),
          "parents": adopted or "trained by the study", "variant": variant(args.parents, space), **summary(work, NAME),
          "pick_arch": ArchConfig.from_dict(picked).to_dict()})


def variant(parents: str | None, space) -> str:
    """Which weight-sharing variant the study's parents are (bench_supernet.py's arm names): the
    adopted arm, else the space's distillation setting. At each budget it is the variant that ranked
    bench_supernet.py's 12 architectures better, a choice made on those architectures: a figure that
    ranks them again with it is not independent of the choice (docs/results.md reports both)."""
    return parents or ("supernet_distill" if space.supernet.distill > 0 else "supernet")


def _study_line(size: str) -> dict:
    lines = [json.loads(x) for x in RESULTS.read_text().splitlines() if x] if RESULTS.is_file() else []
    found = [x for x in lines if x.get("size") == size and x.get("figure") == "study"]
    if not found:
        raise SystemExit(f"{RESULTS}: no study at size {size}; run --steps study --save first")
    return found[-1]


def retrain_step(args, cfg, space, data, keep, emit, study: dict) -> None:
    """Every role's architecture trained with the truth recipe once per seed, and bench_supernet's
    architectures beside them (their cells kept from that benchmark); the figures once all are in."""
    (train, val, spread), randoms = data, SIZES[args.size]["random"]
    by_role = trivial_roles(space, ArchConfig.from_dict(study["pick_arch"]), randoms)
    archs = list(dict.fromkeys([*by_role.values(), *(a for a, _ in spread)]))  # each trained once
    recipe = bs.truth_recipe(space, cfg, args.device)
    data, loaded = train.subset(slice(0, min(cfg["truth_images"], len(train)))), (len(train), len(val))
    rows, _ = bs._cells(archs, cfg["seeds"], lambda a, s: bs._cell_key(a, s, recipe, len(data), loaded,
                        space.data.seed), lambda a, s: evaluate_candidate(a, dataclasses.replace(recipe, seed=s),
                        data, val).px_error, keep, args.shard, "headline")
    if args.shard != (1, 1) or any(len(r) < cfg["seeds"] for r in rows):
        return  # a share of the cells: the figures come from a later unsharded run
    errors = dict(zip(archs, rows))
    info = {"epochs": recipe.epochs, "images": len(data), "aug_multiplier": recipe.aug_multiplier, "lr": recipe.lr,
            "train_px": space.proxy.train_size, "deployed_px": space.input_size}
    for line in trivial_lines(by_role, {a: errors[a] for a in by_role.values()}, info):
        emit(line)
    emit(best_measured(by_role["pick"], errors))


def best_measured(pick_arch: ArchConfig, errors: dict[ArchConfig, list[float]]) -> dict:
    """Where the pick ranks by mean score among every architecture trained with the shared recipe
    (the roles and bench_supernet's architectures spread over the cost range): is a better one known?"""
    means = {a: statistics.mean(score(c.gflops, c.mparams, e) for e in errors[a])
             for a, c in ((a, count_cost(a)) for a in errors)}
    ranked = sorted(means, key=means.get)
    return {"figure": "best_measured", "archs": len(ranked), "best_arch": ranked[0].short(),
            "best_mean_px": round(statistics.mean(errors[ranked[0]]), 3), "pick_rank": ranked.index(pick_arch) + 1,
            "pick_over_best": round(means[pick_arch] / means[ranked[0]], 3)}


def trivial_lines(by_role: dict[str, ArchConfig], errors: dict[ArchConfig, list[float]], recipe: dict):
    """A line per role (mean score and error over seeds), the goal, and the recipe's seed noise."""
    scores = {a: [score(c.gflops, c.mparams, e) for e in errors[a]] for a, c in
              ((a, count_cost(a)) for a in errors)}
    means = {role: statistics.mean(scores[a]) for role, a in by_role.items()}
    for role, a in by_role.items():
        yield {"figure": "trivial", "role": role, "arch": a.short(), "seeds": len(errors[a]),
               "mean_score": round(means[role], 6), "pick_over_this": round(means["pick"] / means[role], 3),
               "mean_px": round(statistics.mean(errors[a]), 3), "px": [round(e, 3) for e in errors[a]]}
    yield {"figure": "trivial_goal", **trivial_goal(means)}
    noise = proxy_noise({a.short(): e for a, e in errors.items()}, [statistics.mean(e) for e in errors.values()])
    yield {"figure": "retrain_noise", "seed_noise_px": round(noise.within, 3), "spread_px": round(noise.across, 3),
           "snr": round(noise.snr, 2), "icc": _rounded(noise.icc, 3), "recipe": recipe}


def _rounded(x: float, digits: int) -> float | None:
    """`x` rounded, or None (JSON null) when it is NaN: not computable."""
    return None if math.isnan(x) else round(x, digits)


def parse_args() -> argparse.Namespace:
    ap = doc_parser(__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS.relative_to(ROOT)} and each "
                    f"trained cell to {bs.TRUTH_CELLS.relative_to(ROOT)} (reused by later runs)")
    ap.add_argument("--steps", type=bs.steps_argument(STEPS), default=STEPS, metavar="A,B",
                    help="study, retrain, skip (default all)")
    ap.add_argument("--parents", choices=bs.ARMS[1:], default=None, help="start the study with the parents "
                    "bench_supernet.py --save kept for this arm at the size instead of training them")
    ap.add_argument("--shard", type=bs._shard, default=(1, 1), metavar="K/N",
                    help="with --steps retrain: train only every N-th cell from the K-th")
    args = ap.parse_args()
    if args.size == "smoke" and args.save:
        ap.error("--size smoke figures are not kept: leave out --save")
    if args.shard != (1, 1) and args.steps != ("retrain",):
        ap.error("--shard splits the retrains: it needs --steps retrain")
    if args.steps == ("retrain",) and not args.save:
        ap.error("--steps retrain reads the study's line from the results: it needs --save")
    return args


def skip_step(args, space, train, val, emit) -> None:
    """The pre-training skip judged with supernet proxies, as the evidence suite judges it with scratch
    ones: Random and TPE studies that train every trial (no pruning, no skip, no baselines), SKIP_SEEDS
    seeds each, the size's study's parents; each run replayed with the skip rule active (bench/skip_audit.py)."""
    url = f"sqlite:///{work_dir(args.size) / 'study.db'}"
    source = load_existing_study(NAME, url)
    states = {r["backbone"]: ParentStore(source, url).download(r) for k, r in source.user_attrs.items()
              if k.startswith(ATTR_PREFIX)}
    margin = space.search.pre_train_margin_px
    with tempfile.TemporaryDirectory(prefix="skip-audit-") as folder:
        for seed in range(SKIP_SEEDS):
            for arm in (a for a in ARMS if not a.prune):
                study = arm.study(space, seed)
                store = ParentStore(study, None, Path(folder))
                for backbone, state in states.items():
                    store.adopt(space, backbone, seed, state, {"origin": NAME})
                t0 = time.time()
                run_study(study, space, train, val, trials=SIZES[args.size]["audit_trials"], device=args.device,
                          seed=seed, baselines=False, skip_hopeless=False, artifacts_dir=Path(folder))
                for row in replay_rows(from_records(records(study, t0)), margin):  # bench/skip_audit.py
                    emit({"figure": "skip_replay", "arm": arm.name, "seed": seed, **row})


def main() -> None:
    args = parse_args()
    cfg = bs.SIZES[args.size]
    space, train, val, spread = bs.load(cfg)
    context = {"bench": "supernet_study", "title": TITLE, "size": args.size,
               **run_info("bench/bench_supernet_study.py")}
    emit = bs._emitter(context, RESULTS if args.save else None)
    if "study" in args.steps:
        study_step(args, space, emit)
    if "retrain" in args.steps:
        study = emit.lines[0] if "study" in args.steps else _study_line(args.size)
        keep = {**context, "budget_s": cfg["budget_s"]} if args.save else None
        retrain_step(args, cfg, space, (train, val, spread), keep, emit, study)
    if "skip" in args.steps:
        skip_step(args, space, train, val, emit)


if __name__ == "__main__":
    main()
