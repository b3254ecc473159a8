"""Weight-sharing proxies against scratch proxies at equal study wall time, judged against long
from-scratch training with several seeds per architecture (so the truth's own noise is known).

    .venv/bin/python bench/bench_supernet.py --size small --save    # the make-study budget (6 min), 64 px
    .venv/bin/python bench/bench_supernet.py --size long --save     # 60 min, 128 px (hours in all, with the truth)
    # the long size over several sessions: the truth (two one-thread processes, beside other work),
    # then each arm on a quiet machine, then the inherited retrains (timing-free again)
    .venv/bin/python bench/bench_supernet.py --size long --save --truth-only --shard 1/2   # and 2/2
    .venv/bin/python bench/bench_supernet.py --size long --save --steps scratch,supernet_distill
    .venv/bin/python bench/bench_supernet.py --size long --save --steps supernet
    .venv/bin/python bench/bench_supernet.py --size long --save --steps inherited --shard 1/2  # and 2/2, then 1/1
    .venv/bin/python bench/bench_supernet.py --size long --save --steps pairs   # arms compared, from saved lines
    .venv/bin/python bench/bench_supernet.py --size smoke           # a pipeline check (figures meaningless)

For a budget B (seconds of one study on this machine):
  scratch      each candidate trained from scratch with the space's proxy recipe
  supernet     one parent per backbone trained for a share of B (its epochs sized from a timed probe
               of the sandwich step), then each candidate sliced, BatchNorm recalibrated and validated;
               with and without in-place distillation (each its own parent, each its own budget B)
Each arm evaluates the benchmark's architectures, then further uniform draws from the space until B
(parent training included, the probe not) is spent: `candidates_counted` is the number of
evaluations that finished within B, counted, not projected from a mean time per candidate (lines
before 2026-12-04 hold `candidates_in_budget`, that projection: an estimate).
The same architectures (spread over the cost range of random draws from the space) are measured by
every arm and trained long from scratch with several seeds: Kendall tau (bootstrap 95% interval)
of each arm's errors against the truth's mean errors, the arms' errors as a share of the
mean-pose error, their spread across architectures against the truth's, and the truth's seed noise.
Also: the supernet arm's children with BatchNorm recalibrated on 16-1,024 images (`bn_images`), and
the same architectures trained with the truth's recipe from their sliced weights (`inherited_truth`,
how `retrain --init supernet` starts), against which every arm is ranked too; and a ranking by
cost alone (dearer = lower error), the tau a proxy must beat to tell errors apart beyond model size;
and for each pair of arms (the latest saved line of each) the difference of their taus with a paired
bootstrap interval over the architectures (`arm_pair`): does one rank better beyond chance?
Both weight-sharing variants (with and without distillation) are measured and reported at every
budget, each against scratch (`variant_vs_scratch`, from the pairs step; "not measured" for a
variant without a line at the size): choosing the better variant per budget on these same
architectures and reporting only it would flatter its tau.
Truth cells (architecture x seed) are kept in docs/results/supernet-truth.jsonl as they are measured
(with --save) and reused: `--truth-only` trains just the missing ones and may run beside other work.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import math
import random
import statistics
import time
from pathlib import Path

import optuna
import torch
from common.evidence import spread_archs, uniform_params
from common.run_info import run_info

from nas.data import DataSpec, load_for_space
from nas.deploy.fidelity import bootstrap_interval, kendall_tau, paired_difference_interval
from nas.keypoints.metrics import mean_pose_error
from nas.model.cost import count_cost
from nas.model.network import build_model
from nas.search.noise import proxy_noise
from nas.search.objective import recipe_for
from nas.search.proxy.scratch import evaluate_candidate
from nas.search.proxy.supernet import SharedParent, child_for, children_sampler, parent_arch, parent_recipe
from nas.search.sampling import arch_from_params
from nas.search.space import load_space
from nas.training.device import resolve_device, resolve_memory_format, resolve_recipe, to_memory_format
from nas.training.evaluation import evaluate
from nas.training.recipe import RUNTIME_FIELDS
from nas.training.supernet import train_supernet
from nas.training.trainer import train as train_model

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "supernet.jsonl"
TRUTH_CELLS = ROOT / "docs" / "results" / "supernet-truth.jsonl"  # one line per (architecture, seed) trained
TRUTH_TITLE = "Long from-scratch training of the supernet benchmark's architectures (bench/bench_supernet.py)"
SIZES = {
    "small": dict(space="quick.yaml", budget_s=360, parent_share=0.7, archs=12, truth_images=2000,
                  truth_epochs=4, seeds=3),
    "long": dict(space="quick128.yaml", budget_s=3600, parent_share=0.8, archs=12, truth_images=6000,
                 truth_epochs=8, seeds=3, supernet_images=6000),  # the parent sees the truth's images
    "smoke": dict(space="quick.yaml", budget_s=20, parent_share=0.5, archs=3, truth_images=64, truth_epochs=1,
                  seeds=2, proxy_images=64, supernet_images=64),
}


def draws(space, seed: int = 12, backbones=None):
    """Endless uniform (architecture, augmentation multiplier) draws from the space (those of
    `backbones` only, when given): the further candidates an arm evaluates to count what fits B."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while True:
        trial = study.ask()
        params = uniform_params(trial, space)
        study.tell(trial, 0.0)
        arch = arch_from_params(params, space)
        if backbones is None or arch.backbone in backbones:
            yield arch, int(params["aug_multiplier"])


def count_in_budget(evaluate, archs, more, spent_s: float, budget_s: float):
    """evaluate(arch, aug) for every one of `archs` (the benchmark's; all of them, whatever the
    budget), then for draws from `more` while the budget lasts: (errors of `archs`, seconds per
    evaluation of `archs`, evaluations that finished within `budget_s`). `spent_s`: seconds of the
    budget spent before the first evaluation (the parents' training)."""
    errors, seconds, counted, clock = [], [], 0, time.perf_counter() - spent_s
    for arch, aug in archs:
        t0 = time.perf_counter()
        errors.append(evaluate(arch, aug))
        seconds.append(time.perf_counter() - t0)
        counted += time.perf_counter() - clock <= budget_s
    for arch, aug in more:
        if time.perf_counter() - clock >= budget_s:
            break
        evaluate(arch, aug)
        counted += time.perf_counter() - clock <= budget_s
    return errors, seconds, counted


def scratch_arm(space, archs, train, val, device, budget_s: float) -> dict:
    def evaluate(arch, aug) -> float:
        return evaluate_candidate(arch, recipe_for(space, aug, device, 0), train, val).px_error

    errors, seconds, counted = count_in_budget(evaluate, archs, draws(space), 0.0, budget_s)
    return {"errors": errors, "per_candidate_s": statistics.mean(seconds), "parent_s": 0.0, "counted": counted}


def _parent_steps(space, backbone, data, device, seconds: float, distill: float) -> int:
    """Sandwich steps that fit `seconds`, from a timed probe (one warm-up step, then five)."""
    dev = resolve_device(device)
    fmt = resolve_memory_format("auto", dev)
    recipe = parent_recipe(space, str(dev), 0)
    parent = to_memory_format(build_model(parent_arch(space, backbone), seed=0).to(dev), fmt)
    ticks: list[float] = []
    train_supernet(parent, data, recipe, children_sampler(space, backbone, space.supernet.children_per_step),
                   distill, fmt, on_step=lambda *_: ticks.append(time.perf_counter()), steps=6)
    return max(1, int(seconds / ((ticks[-1] - ticks[0]) / (len(ticks) - 1))))


def supernet_arm(space, archs, train, val, device, budget_s, distill, total_s: float) -> dict:
    """The parents trained for `budget_s` in all, then the children counted within `total_s` (B)."""
    dev = resolve_device(device)
    fmt = resolve_memory_format("auto", dev)
    backbones = sorted({a.backbone for a, _ in archs})
    data = train.subset(slice(0, min(space.supernet.train_images, len(train)))).to(dev)
    recipe = parent_recipe(space, str(dev), 0)
    parents, parent_s, steps, epochs = {}, 0.0, {}, {}
    for b in backbones:
        steps[b] = _parent_steps(space, b, data, device, budget_s / len(backbones), distill)
        model = to_memory_format(build_model(parent_arch(space, b), seed=0).to(dev), fmt)
        t0 = time.perf_counter()
        result = train_supernet(model, data, recipe, children_sampler(space, b, space.supernet.children_per_step),
                                distill, fmt, steps=steps[b])
        parent_s += time.perf_counter() - t0
        epochs[b] = round(result.epochs, 2)
        parents[b] = SharedParent(model.eval(), b, parent_s, fmt)
    val = val.to(dev)
    errors, seconds, counted = count_in_budget(
        lambda arch, _aug: child_error(parents, arch, data, val, space, space.supernet.bn_images), archs,
        draws(space, backbones=set(parents)), parent_s, total_s)
    return {"errors": errors, "per_candidate_s": statistics.mean(seconds), "parent_s": parent_s, "counted": counted,
            "parent_steps": steps, "parent_epochs": epochs, "parents": parents, "data": data}


def child_error(parents, arch, data, val, space, bn_images: int) -> float:
    """The architecture sliced out of its backbone's parent, BatchNorm recalibrated on `bn_images`
    images, validated: its error."""
    child = child_for(parents[arch.backbone], arch, data, bn_images)
    return evaluate(child, val, space.proxy.recipe.loss, px_scale=arch.input_size / val.size).px_error


def children_errors(parents, archs, data, val, space, bn_images: int) -> tuple[list[float], list[float]]:
    """child_error of each architecture: (errors, seconds per child)."""
    errors, seconds = [], []
    for arch, _ in archs:
        t0 = time.perf_counter()
        errors.append(child_error(parents, arch, data, val, space, bn_images))
        seconds.append(time.perf_counter() - t0)
    return errors, seconds


def _cell_key(arch, seed: int, recipe, images: int, loaded: tuple[int, int], data_seed: int,
              init: str | None = None) -> str:
    what = {"arch": arch.to_dict(), "seed": seed, "images": images, "loaded": loaded, "data_seed": data_seed,
            "recipe": {k: v for k, v in recipe.to_dict().items() if k not in ("seed", *RUNTIME_FIELDS)}}
    return json.dumps(what if init is None else {**what, "init": init}, sort_keys=True)


def _kept_cells() -> dict[str, float]:
    """The cells measured before (TRUTH_CELLS), by key: a run resumes where one stopped. A key written
    before a runtime field was left out of keys (or changed its default) still matches."""
    if not TRUTH_CELLS.is_file():
        return {}
    return {_without_runtime(line["_key"]): line["px_error"]
            for line in map(json.loads, TRUTH_CELLS.read_text().splitlines()) if line}


def _without_runtime(key: str) -> str:
    try:
        what = json.loads(key)
    except ValueError:
        return key
    if not isinstance(what, dict) or "recipe" not in what:
        return key
    what["recipe"] = {k: v for k, v in what["recipe"].items() if k not in RUNTIME_FIELDS}
    return json.dumps(what, sort_keys=True)


def _cells(archs, seeds: int, key_of, measure, keep: dict | None, shard: tuple[int, int], label: str):
    """measure(arch, seed) for every architecture and seed: (errors per architecture, cells reused).
    With `keep` (the run's context) every new cell is appended to TRUTH_CELLS as soon as it is
    measured and cells already there are reused (they do not depend on the machine's load). With
    `shard` (k, n) only every n-th cell from the k-th is trained, so n processes can share them (the
    others' cells missing from the rows)."""
    kept, reused, errors = (_kept_cells() if keep is not None else {}), 0, []
    for i, arch in enumerate(archs):
        row = []
        for s in range(seeds):
            key = key_of(arch, s)
            if key in kept:
                row.append(kept[key])
                reused += 1
                continue
            if (i * seeds + s) % shard[1] != shard[0] - 1:
                continue
            t0 = time.perf_counter()
            row.append(measure(arch, s))
            cell = {"arch": arch.short(), "seed": s, "px_error": round(row[-1], 4),
                    "seconds": round(time.perf_counter() - t0, 1), "_key": key}
            print(f"{label} {i + 1}/{len(archs)} seed {s}: {cell['arch']} {cell['px_error']} px "
                  f"({cell['seconds']} s)", flush=True)
            if keep is not None:
                with TRUTH_CELLS.open("a") as f:
                    f.write(json.dumps({**keep, "bench": "supernet_truth", "title": TRUTH_TITLE, "cells": label,
                                        **cell}) + "\n")
        errors.append(row)
    return errors, reused


def truth_recipe(space, cfg, device):
    return dataclasses.replace(space.proxy.recipe, epochs=cfg["truth_epochs"], device=device, aug_multiplier=1)


def truth(archs, train, val, cfg, space, device, keep: dict | None, shard=(1, 1)):
    """Each architecture trained from scratch once per seed with the truth's recipe."""
    recipe, data = truth_recipe(space, cfg, device), train.subset(slice(0, min(cfg["truth_images"], len(train))))
    loaded = (len(train), len(val))
    return _cells([a for a, _ in archs], cfg["seeds"],
                  lambda a, s: _cell_key(a, s, recipe, len(data), loaded, space.data.seed),
                  lambda a, s: evaluate_candidate(a, dataclasses.replace(recipe, seed=s), data, val).px_error,
                  keep, shard, "truth")


def inherited_truth(arm: dict, archs, train, val, cfg, space, device, keep: dict | None, shard=(1, 1)):
    """Each architecture trained with the truth's recipe (seed 0) from its weights sliced out of the
    arm's parent, BatchNorm recalibrated: how `retrain --init supernet` starts."""
    recipe = resolve_recipe(dataclasses.replace(truth_recipe(space, cfg, device), seed=0))
    data, loaded = train.subset(slice(0, min(cfg["truth_images"], len(train)))), (len(train), len(val))

    def measure(arch, _seed: int) -> float:
        child = child_for(arm["parents"][arch.backbone], arch, arm["data"], space.supernet.bn_images)
        return train_model(child, data, val, recipe, arch.input_size).px_error

    init = f"{arm['name']} parent of {arm['trained']}"
    rows, reused = _cells([a for a, _ in archs], 1, lambda a, s: _cell_key(a, s, recipe, len(data), loaded,
                          space.data.seed, init), measure, keep, shard, "inherited")
    return [r[0] for r in rows if r], reused


BN_IMAGES = (16, 32, 64, 128, 256, 512, 1024)


def bn_sweep(arm: dict, archs, val, space, means, chance) -> list[dict]:
    """The supernet arm's children with BatchNorm recalibrated on each count of BN_IMAGES images:
    mean error (share of the mean-pose error), tau against the truth, seconds per child (a line each)."""
    rows = []
    for n in BN_IMAGES:
        if n > len(arm["data"]):
            continue
        errors, seconds = children_errors(arm["parents"], archs, arm["data"], val.to(arm["data"].images.device),
                                          space, n)
        rows.append({"figure": "bn_images", "arm": arm["name"], "space_default": space.supernet.bn_images,
                     "bn_images": n, "share_of_mean_pose": round(statistics.mean(errors) / chance, 4),
                     "spread_px": round(statistics.stdev(errors), 3), "kendall_tau_error": round(kendall_tau(errors,
                     means), 3), "per_child_s": round(statistics.mean(seconds), 2)})
    return rows


ARMS = ("scratch", "supernet", "supernet_distill")
STEPS = (*ARMS, "inherited", "pairs")
PARENTS = ROOT / "reports" / "bench-cache"  # the supernet arms' parents (--save), for a later `--steps inherited`


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS.relative_to(ROOT)} as they "
                    f"come, each truth cell to {TRUTH_CELLS.relative_to(ROOT)} (reused by later runs of the same "
                    f"size) and the supernet arms' parents to {PARENTS.relative_to(ROOT)}/")
    ap.add_argument("--steps", type=_steps, default=STEPS, metavar="A,B",
                    help=f"what to run, of {', '.join(STEPS)} (default all): a long run may take several sessions")
    ap.add_argument("--inherit-from", choices=ARMS[1:], default="supernet_distill",
                    help="the arm whose parents start `inherited` (default supernet_distill)")
    ap.add_argument("--truth-only", action="store_true", help="only train the truth's missing cells (needs --save; "
                    "timing-free, so it may run beside other work, e.g. with OMP_NUM_THREADS=1)")
    ap.add_argument("--shard", type=_shard, default=(1, 1), metavar="K/N", help="with --truth-only or --steps "
                    "inherited: train only every N-th cell from the K-th, so N processes (a thread each) share them")
    args = ap.parse_args()
    if args.size == "smoke" and args.save:
        ap.error("--size smoke figures are not kept: leave out --save")
    if args.truth_only and not args.save:
        ap.error("--truth-only keeps its cells only with --save")
    if args.shard != (1, 1) and not (args.truth_only or args.steps == ("inherited",)):
        ap.error("--shard splits cells: it needs --truth-only or --steps inherited")
    return args


def steps_argument(choices: tuple[str, ...]):
    """An argparse type: a comma-separated list of `choices` (a script's steps), as a tuple."""
    def parse(text: str) -> tuple[str, ...]:
        steps = tuple(x.strip() for x in text.split(",") if x.strip())
        if not steps or any(x not in choices for x in steps):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(choices)}, got {text!r}")
        return steps

    return parse


_steps = steps_argument(STEPS)


def load(cfg: dict):
    """The size's space (smoke: shrunk), its data and the benchmark's architectures."""
    space = load_space(ROOT / "search_spaces" / cfg["space"])
    if "proxy_images" in cfg:
        space = dataclasses.replace(space, proxy=space.proxy.updated(train_images=cfg["proxy_images"], val_images=32))
    if "supernet_images" in cfg:
        space = dataclasses.replace(space, supernet=dataclasses.replace(space.supernet,
                                                                        train_images=cfg["supernet_images"]))
    p = space.proxy
    images = max(p.train_images, space.supernet.train_images, cfg["truth_images"])
    train, val = load_for_space(DataSpec(seed=space.data.seed), images, p.val_images, p.train_size)
    return space, train, val, spread_archs(space, cfg["archs"], seed=11)


def _pose(data) -> tuple:
    return data.keypoints, data.visibility


def main() -> None:
    args = parse_args()
    cfg = SIZES[args.size]
    space, train, val, archs = load(cfg)
    context = {"bench": "supernet", "size": args.size, **run_info("bench/bench_supernet.py"),
               "budget_s": cfg["budget_s"], "archs": [a.short() for a, _ in archs]}
    # the mean pose's error, deployed px
    chance = mean_pose_error(*_pose(train), *_pose(val)) * space.input_size / space.proxy.train_size
    keep = {k: v for k, v in context.items() if k != "archs"} if args.save else None
    truths, reused = truth(archs, train, val, cfg, space, args.device, keep, args.shard if args.truth_only else (1, 1))
    if args.truth_only:
        return
    if args.shard != (1, 1):  # a share of the inherited cells: the figures come from a later unsharded run
        arm = load_parents(args.size, args.inherit_from, space, train, args.device)
        inherited_truth(arm, archs, train, val, cfg, space, args.device, keep, args.shard)
        return
    means = [statistics.mean(t) for t in truths]
    noise = proxy_noise({a.short(): t for (a, _), t in zip(archs, truths)}, means)
    emit = _emitter(context, RESULTS if args.save else None)
    by_cost = [-count_cost(a).cost for a, _ in archs]  # a "proxy" that knows only the size: dearer = lower error
    emit({"figure": "truth", "mean_pose_px": round(chance, 3), "truth_px": [round(m, 3) for m in means],
          "truth_seed_noise_px": round(noise.within, 3), "truth_spread_px": round(noise.across, 3),
          "truth_snr": round(noise.snr, 2), "truth_icc": _rounded(noise.icc, 3), "seeds": cfg["seeds"],
          "epochs": cfg["truth_epochs"], "images": cfg["truth_images"], "truth_cells_reused": reused})
    emit({"figure": "cost_only", "kendall_tau_error": round(kendall_tau(by_cost, means), 3),
          "kendall_tau_error_ci": [round(x, 3) for x in bootstrap_interval(by_cost, means, kendall_tau)]})
    results = run_arms(args, cfg, space, archs, (train, val), emit, (means, chance, noise))
    arms = {**_saved_arms(args.size), **{n: r["errors"] for n, r in results.items()}}  # every arm's latest errors
    if "inherited" in args.steps:
        arm = results.get(args.inherit_from) or load_parents(args.size, args.inherit_from, space, train, args.device)
        inherited, _ = inherited_truth(arm, archs, train, val, cfg, space, args.device, keep, args.shard)
        if len(inherited) == len(archs):
            emit(_inherited_line(arm, inherited, means, by_cost, arms))
    if "pairs" in args.steps:
        for row in _pair_lines(arms, means):
            emit(row)
        for row in variant_lines(arms, means, by_cost):
            emit(row)


def run_arms(args, cfg, space, archs, data, emit, truth_figures) -> dict[str, dict]:
    """The arms of args.steps, each emitted (and its parents kept, with --save) as soon as it ends."""
    (train, val), (means, chance, noise) = data, truth_figures
    share = cfg["budget_s"] * cfg["parent_share"]
    budget = cfg["budget_s"]
    runs = {"scratch": lambda: scratch_arm(space, archs, train.subset(slice(0, space.proxy.train_images)), val,
                                           args.device, budget),
            "supernet": lambda: supernet_arm(space, archs, train, val, args.device, share, 0.0, budget),
            "supernet_distill": lambda: supernet_arm(space, archs, train, val, args.device, share, 1.0, budget)}
    results = {}
    for name in (a for a in ARMS if a in args.steps):
        results[name] = r = {**runs[name](), "name": name,
                             "trained": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        emit(_arm_line(name, r, means, chance, noise))
        if name != "scratch":
            if args.save:
                save_parents(args.size, r)
            for row in bn_sweep(r, archs, val, space, means, chance):
                emit(row)
    return results


def _parents_path(size: str, arm: str) -> Path:
    return PARENTS / f"supernet-{size}-{arm}.pt"


def save_parents(size: str, arm: dict) -> None:
    """The arm's parents' weights, written to a temporary file and renamed (never half-written)."""
    path = _parents_path(size, arm["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"trained": arm["trained"], "memory_format": next(iter(arm["parents"].values())).memory_format,
                "state": {b: p.model.state_dict() for b, p in arm["parents"].items()}}, tmp)
    tmp.replace(path)


def load_parents(size: str, name: str, space, train, device) -> dict:
    """An arm (its parents, their training data) as save_parents kept it."""
    path = _parents_path(size, name)
    if not path.is_file():
        raise SystemExit(f"{path}: no saved parents of arm {name} at size {size}; run --steps {name} --save first")
    saved = torch.load(path, map_location="cpu")
    dev = resolve_device(device)
    parents = {}
    for b, state in saved["state"].items():
        model = build_model(parent_arch(space, b), seed=0)
        model.load_state_dict(state)
        model = to_memory_format(model.to(dev), saved["memory_format"]).eval()
        parents[b] = SharedParent(model, b, 0.0, saved["memory_format"])
    data = train.subset(slice(0, min(space.supernet.train_images, len(train)))).to(dev)
    return {"name": name, "trained": saved["trained"], "parents": parents, "data": data}


def _saved_arms(size: str) -> dict[str, list[float]]:
    """The latest saved errors of each arm at `size` (RESULTS), by arm."""
    if not RESULTS.is_file():
        return {}
    lines = [json.loads(x) for x in RESULTS.read_text().splitlines() if x]
    return {x["arm"]: x["proxy_px"] for x in lines if x.get("size") == size and x.get("figure") == "arm"}


def _pair_lines(arms: dict[str, list[float]], means) -> list[dict]:
    """For each pair of arms, how much closer the second ranks the truth than the first (Kendall tau on
    error), with the paired bootstrap interval over the architectures: an interval above 0 says the
    second ranks better beyond the choice of architectures."""
    rows = []
    for a, b in itertools.combinations([n for n in ARMS if n in arms], 2):
        diff = kendall_tau(arms[b], means) - kendall_tau(arms[a], means)
        lo, hi = paired_difference_interval(arms[a], arms[b], means, kendall_tau)
        rows.append({"figure": "arm_pair", "arm": b, "against": a, "kendall_tau_error_difference": round(diff, 3),
                     "difference_ci": [round(lo, 3), round(hi, 3)]})
    return rows


VARIANTS = ARMS[1:]  # the weight-sharing variants: without and with in-place distillation


def variant_lines(arms: dict[str, list[float]], means, by_cost) -> list[dict]:
    """Each weight-sharing variant against scratch at this budget, both always (a variant or scratch
    without a saved line at the size says "not measured"): its tau on error with its interval, the
    paired difference from scratch's, and the cost-only tau beside them. No variant is chosen here."""
    rows = []
    for name in VARIANTS:
        row = {"figure": "variant_vs_scratch", "arm": name, "distill": name == "supernet_distill",
               "cost_only_kendall_tau_error": round(kendall_tau(by_cost, means), 3)}
        if name not in arms:
            rows.append({**row, "kendall_tau_error": "not measured"})
            continue
        tau, ci = kendall_tau(arms[name], means), bootstrap_interval(arms[name], means, kendall_tau)
        row.update({"kendall_tau_error": round(tau, 3), "kendall_tau_error_ci": [round(x, 3) for x in ci]})
        if "scratch" not in arms:
            rows.append({**row, "scratch_kendall_tau_error": "not measured"})
            continue
        lo, hi = paired_difference_interval(arms["scratch"], arms[name], means, kendall_tau)
        rows.append({**row, "scratch_kendall_tau_error": round(kendall_tau(arms["scratch"], means), 3),
                     "difference": round(tau - kendall_tau(arms["scratch"], means), 3),
                     "difference_ci": [round(lo, 3), round(hi, 3)]})
    return rows


def _rounded(x: float, digits: int) -> float | None:
    """`x` rounded, or None (JSON null) when it is NaN: not computable."""
    return None if math.isnan(x) else round(x, digits)


def _inherited_line(arm: dict, inherited, means, by_cost, arms: dict[str, list[float]]) -> dict:
    return {"figure": "inherited_truth", "from_arm": arm["name"], "parent_trained": arm["trained"],
            "recipe": "the truth's, seed 0, from the arm's parent (sliced, BN recalibrated)",
            "px": [round(e, 3) for e in inherited], "mean_px": round(statistics.mean(inherited), 3),
            "scratch_truth_mean_px": round(statistics.mean(means), 3),
            "lower_than_scratch_truth": sum(i < m for i, m in zip(inherited, means)),
            "kendall_tau_error": {"scratch_truth": round(kendall_tau(means, inherited), 3),
                                  "cost_only": round(kendall_tau(by_cost, inherited), 3),
                                  **{n: round(kendall_tau(e, inherited), 3) for n, e in arms.items()}}}


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(k), int(n)


def _emitter(context: dict, save: Path | None):
    """emit(line): the line with the run's context, printed and (with `save`) appended at once."""
    def emit(line: dict) -> None:
        emit.lines.append({**context, **line})
        print(json.dumps(emit.lines[-1]), flush=True)
        if save is not None:
            with save.open("a") as f:
                f.write(json.dumps(emit.lines[-1]) + "\n")

    emit.lines = []
    return emit


def _arm_line(name: str, r: dict, means, chance: float, noise) -> dict:
    tau, ci = kendall_tau(r["errors"], means), bootstrap_interval(r["errors"], means, kendall_tau)
    return {"figure": "arm", "arm": name, "proxy_px": [round(e, 3) for e in r["errors"]],
            "share_of_mean_pose": round(statistics.mean(r["errors"]) / chance, 3),
            "spread_px": round(statistics.stdev(r["errors"]), 3), "truth_spread_px": round(noise.across, 3),
            "candidates_counted": r["counted"],
            "per_candidate_s": round(r["per_candidate_s"], 2), "parent_s": round(r["parent_s"], 1),
            "parent_steps": r.get("parent_steps"), "parent_epochs": r.get("parent_epochs"),
            "kendall_tau_error": round(tau, 3), "kendall_tau_error_ci": [round(x, 3) for x in ci], "n": len(means)}


if __name__ == "__main__":
    torch.manual_seed(0)
    random.seed(0)
    main()
