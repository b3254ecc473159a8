"""Weight-sharing proxies against scratch proxies at equal study wall time, judged against long
from-scratch training with several seeds per architecture (so the truth's own noise is known).

    .venv/bin/python bench/bench_supernet.py --size small --save    # the make-study budget (6 min), 64 px
    .venv/bin/python bench/bench_supernet.py --size long --save     # 60 min, 128 px (hours in all, with the truth)
    .venv/bin/python bench/bench_supernet.py --size smoke           # a pipeline check (figures meaningless)

For a budget B (seconds of one study on this machine):
  scratch      each candidate trained from scratch with the space's proxy recipe; candidates in B =
               B / the measured mean seconds per candidate
  supernet     one parent per backbone trained for a share of B (its epochs sized from a timed probe
               of the sandwich step), then each candidate sliced, BatchNorm recalibrated and validated;
               candidates in B = (B - measured parent seconds) / measured mean seconds per candidate;
               with and without in-place distillation (each its own parent, each its own budget B)
The same architectures (spread over the cost range of random draws from the space) are measured by
every arm and trained long from scratch with several seeds: Kendall tau (bootstrap 95% interval)
of each arm's errors against the truth's mean errors, the arms' errors as a share of the
mean-pose error, their spread across architectures against the truth's, and the truth's seed noise.
Also: the supernet arm's children with BatchNorm recalibrated on 16-1,024 images (`bn_images`), and
the same architectures trained with the truth's recipe from their sliced weights (`inherited_truth`,
how `retrain --init supernet` starts), against which every arm is ranked too; and a ranking by
cost alone (dearer = lower error), the tau a proxy must beat to tell errors apart beyond model size.
Truth cells (architecture x seed) are kept in docs/results/supernet-truth.jsonl as they are measured
(with --save) and reused: `--truth-only` trains just the missing ones and may run beside other work.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curves import chance_px  # noqa: E402
from evidence import spread_archs  # noqa: E402
from run_info import run_info  # noqa: E402

from nas.data import DataSpec, load_for_space  # noqa: E402
from nas.model.cost import count_cost  # noqa: E402
from nas.model.network import build_model  # noqa: E402
from nas.search.candidate import evaluate_candidate  # noqa: E402
from nas.search.fidelity import bootstrap_interval, kendall_tau  # noqa: E402
from nas.search.noise import proxy_noise  # noqa: E402
from nas.search.objective import recipe_for  # noqa: E402
from nas.search.space import load_space  # noqa: E402
from nas.search.supernet import SharedParent, child_for, children_sampler, parent_arch, parent_recipe  # noqa: E402,E501
from nas.training.device import resolve_device, resolve_memory_format, resolve_recipe, to_memory_format  # noqa: E402,E501
from nas.training.evaluation import evaluate  # noqa: E402
from nas.training.supernet import train_supernet  # noqa: E402
from nas.training.trainer import train as train_model  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "supernet.jsonl"
TRUTH_CELLS = ROOT / "docs" / "results" / "supernet-truth.jsonl"  # one line per (architecture, seed) trained
TRUTH_TITLE = "Long from-scratch training of the supernet benchmark's architectures (bench/bench_supernet.py)"
SIZES = {
    "small": dict(space="quick.yaml", budget_s=360, parent_share=0.7, archs=12, truth_images=2000,
                  truth_epochs=4, seeds=3),
    "long": dict(space="quick128.yaml", budget_s=3600, parent_share=0.8, archs=12, truth_images=6000,
                 truth_epochs=8, seeds=3),
    "smoke": dict(space="quick.yaml", budget_s=20, parent_share=0.5, archs=3, truth_images=64, truth_epochs=1,
                  seeds=2, proxy_images=64),
}


def scratch_arm(space, archs, train, val, device) -> dict:
    errors, seconds = [], []
    for arch, aug in archs:
        t0 = time.perf_counter()
        errors.append(evaluate_candidate(arch, recipe_for(space, aug, device, 0), train, val).px_error)
        seconds.append(time.perf_counter() - t0)
    return {"errors": errors, "per_candidate_s": statistics.mean(seconds), "parent_s": 0.0}


def _parent_steps(space, backbone, data, device, seconds: float, distill: float) -> int:
    """Sandwich steps that fit `seconds`, from a timed probe (one warm-up step, then five)."""
    dev = resolve_device(device)
    fmt = resolve_memory_format("auto", dev, False)
    recipe = parent_recipe(space, str(dev), 0)
    parent = to_memory_format(build_model(parent_arch(space, backbone), seed=0).to(dev), fmt)
    ticks: list[float] = []
    train_supernet(parent, data, recipe, children_sampler(space, backbone, space.supernet.children_per_step),
                   distill, fmt, on_step=lambda *_: ticks.append(time.perf_counter()), steps=6)
    return max(1, int(seconds / ((ticks[-1] - ticks[0]) / (len(ticks) - 1))))


def supernet_arm(space, archs, train, val, device, budget_s, distill) -> dict:
    dev = resolve_device(device)
    fmt = resolve_memory_format("auto", dev, False)
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
    errors, seconds = children_errors(parents, archs, data, val.to(dev), space, space.supernet.bn_images)
    return {"errors": errors, "per_candidate_s": statistics.mean(seconds), "parent_s": parent_s,
            "parent_steps": steps, "parent_epochs": epochs, "parents": parents, "data": data}


def children_errors(parents, archs, data, val, space, bn_images: int) -> tuple[list[float], list[float]]:
    """Each architecture sliced out of its backbone's parent, BatchNorm recalibrated on `bn_images`
    images, validated: (errors, seconds per child)."""
    errors, seconds = [], []
    for arch, _ in archs:
        t0 = time.perf_counter()
        child = child_for(parents[arch.backbone], arch, data, bn_images)
        errors.append(evaluate(child, val, space.proxy.recipe.loss, px_scale=arch.input_size / val.size).px_error)
        seconds.append(time.perf_counter() - t0)
    return errors, seconds


def _truth_key(arch, seed: int, recipe, images: int, loaded: tuple[int, int], data_seed: int) -> str:
    what = {"arch": arch.to_dict(), "seed": seed, "images": images, "loaded": loaded, "data_seed": data_seed,
            "recipe": {k: v for k, v in recipe.to_dict().items() if k not in ("device", "seed", "memory_format")}}
    return json.dumps(what, sort_keys=True)


def _kept_cells() -> dict[str, float]:
    """The truth cells measured before (TRUTH_CELLS), by key: a run resumes where one stopped."""
    if not TRUTH_CELLS.is_file():
        return {}
    return {line["_key"]: line["px_error"] for line in map(json.loads, TRUTH_CELLS.read_text().splitlines()) if line}


def truth(archs, train, val, cfg, space, device, keep: dict | None,
          shard: tuple[int, int] = (1, 1)) -> tuple[list[list[float]], int]:
    """Each architecture trained from scratch once per seed: (errors per architecture, cells reused).
    With `keep` (the run's context) every new cell is appended to TRUTH_CELLS as soon as it is
    measured, and cells already there are reused (the truth does not depend on the machine's load).
    With `shard` (k, n) only every n-th missing cell from the k-th is trained, so n processes can
    share the cells (`--truth-only` only; the rows of the others' cells stay short)."""
    recipe = dataclasses.replace(space.proxy.recipe, epochs=cfg["truth_epochs"], device=device, aug_multiplier=1)
    data = train.subset(slice(0, min(cfg["truth_images"], len(train))))
    kept, reused, errors = (_kept_cells() if keep is not None else {}), 0, []
    for i, (arch, _) in enumerate(archs):
        row = []
        for s in range(cfg["seeds"]):
            key = _truth_key(arch, s, recipe, len(data), (len(train), len(val)), space.data.seed)
            if key in kept:
                row.append(kept[key])
                reused += 1
                continue
            if (i * cfg["seeds"] + s) % shard[1] != shard[0] - 1:
                continue
            t0 = time.perf_counter()
            row.append(evaluate_candidate(arch, dataclasses.replace(recipe, seed=s), data, val).px_error)
            cell = {"arch": arch.short(), "seed": s, "px_error": round(row[-1], 4),
                    "seconds": round(time.perf_counter() - t0, 1), "_key": key}
            print(f"truth {i + 1}/{len(archs)} seed {s}: {cell['arch']} {cell['px_error']} px "
                  f"({cell['seconds']} s)", flush=True)
            if keep is not None:
                with TRUTH_CELLS.open("a") as f:
                    f.write(json.dumps({**keep, "bench": "supernet_truth", "title": TRUTH_TITLE, **cell}) + "\n")
        errors.append(row)
    return errors, reused


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
        rows.append({"figure": "bn_images", "arm": "supernet", "space_default": space.supernet.bn_images,
                     "bn_images": n, "share_of_mean_pose": round(statistics.mean(errors) / chance, 4),
                     "spread_px": round(statistics.stdev(errors), 3), "kendall_tau_error": round(kendall_tau(errors,
                     means), 3), "per_child_s": round(statistics.mean(seconds), 2)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS.relative_to(ROOT)} and each "
                    f"truth cell to {TRUTH_CELLS.relative_to(ROOT)} (reused by later runs of the same size)")
    ap.add_argument("--truth-only", action="store_true", help="only train the truth's missing cells (needs --save; "
                    "timing-free, so it may run beside other work, e.g. with OMP_NUM_THREADS=1)")
    ap.add_argument("--shard", type=_shard, default=(1, 1), metavar="K/N", help="with --truth-only: train only "
                    "every N-th cell from the K-th, so N processes (one thread each) share the cells")
    args = ap.parse_args()
    cfg = SIZES[args.size]
    if args.size == "smoke" and args.save:
        ap.error("--size smoke figures are not kept: leave out --save")
    if args.truth_only and not args.save:
        ap.error("--truth-only keeps its cells only with --save")
    if args.shard != (1, 1) and not args.truth_only:
        ap.error("--shard splits the truth's cells: it needs --truth-only")
    space = load_space(ROOT / "search_spaces" / cfg["space"])
    if "proxy_images" in cfg:
        space = dataclasses.replace(space, proxy=space.proxy.updated(train_images=cfg["proxy_images"], val_images=32),
                                    supernet=dataclasses.replace(space.supernet, train_images=cfg["proxy_images"]))
    p = space.proxy
    images = max(p.train_images, space.supernet.train_images, cfg["truth_images"])
    train, val = load_for_space(DataSpec(seed=space.data.seed), images, p.val_images, p.train_size)
    archs = spread_archs(space, cfg["archs"], seed=11)
    context = {"bench": "supernet", "size": args.size, **run_info("bench/bench_supernet.py"),
               "budget_s": cfg["budget_s"], "archs": [a.short() for a, _ in archs]}
    chance = chance_px(train, val) * space.input_size / p.train_size  # the mean pose's error, in deployed px
    keep = {k: v for k, v in context.items() if k != "archs"} if args.save else None
    truths, reused = truth(archs, train, val, cfg, space, args.device, keep, args.shard)
    if args.truth_only:
        return
    means = [statistics.mean(t) for t in truths]
    noise = proxy_noise({a.short(): t for (a, _), t in zip(archs, truths)}, means)
    emit = _emitter(context)
    emit({"figure": "truth", "mean_pose_px": round(chance, 3), "truth_px": [round(m, 3) for m in means],
          "truth_seed_noise_px": round(noise.within, 3), "truth_spread_px": round(noise.across, 3),
          "truth_snr": round(noise.snr, 2), "seeds": cfg["seeds"], "epochs": cfg["truth_epochs"],
          "images": cfg["truth_images"], "truth_cells_reused": reused})
    arms = {"scratch": lambda: scratch_arm(space, archs, train.subset(slice(0, p.train_images)), val, args.device)}
    share = cfg["budget_s"] * cfg["parent_share"]
    arms["supernet"] = lambda: supernet_arm(space, archs, train, val, args.device, share, 0.0)
    arms["supernet_distill"] = lambda: supernet_arm(space, archs, train, val, args.device, share, 1.0)
    results = {}
    for name, run in arms.items():
        results[name] = r = run()
        emit(_arm_line(name, r, means, chance, noise, cfg["budget_s"]))
        if name == "supernet":
            for row in bn_sweep(r, archs, val, space, means, chance):
                emit(row)
    by_cost = [-count_cost(a).cost for a, _ in archs]  # a "proxy" that knows only the size: dearer = lower error
    emit({"figure": "cost_only", "kendall_tau_error": round(kendall_tau(by_cost, means), 3),
          "kendall_tau_error_ci": [round(x, 3) for x in bootstrap_interval(by_cost, means, kendall_tau)]})
    inherited = inherited_truth(results["supernet"], archs, train, val, cfg, space, args.device)
    emit({"figure": "inherited_truth", "recipe": "the truth's, seed 0, from the supernet arm's parent (sliced, BN "
          "recalibrated)", "px": [round(e, 3) for e in inherited], "mean_px": round(statistics.mean(inherited), 3),
          "scratch_truth_mean_px": round(statistics.mean(means), 3),
          "kendall_tau_error": {"scratch_truth": round(kendall_tau(means, inherited), 3),
                                "cost_only": round(kendall_tau(by_cost, inherited), 3),
                                **{n: round(kendall_tau(r["errors"], inherited), 3) for n, r in results.items()}}})
    if args.save:
        with RESULTS.open("a") as f:
            f.writelines(json.dumps(line) + "\n" for line in emit.lines)


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return int(k), int(n)


def _emitter(context: dict):
    def emit(line: dict) -> None:
        emit.lines.append({**context, **line})
        print(json.dumps(emit.lines[-1]), flush=True)

    emit.lines = []
    return emit


def _arm_line(name: str, r: dict, means, chance: float, noise, budget_s: float) -> dict:
    tau, ci = kendall_tau(r["errors"], means), bootstrap_interval(r["errors"], means, kendall_tau)
    return {"figure": "arm", "arm": name, "proxy_px": [round(e, 3) for e in r["errors"]],
            "share_of_mean_pose": round(statistics.mean(r["errors"]) / chance, 3),
            "spread_px": round(statistics.stdev(r["errors"]), 3), "truth_spread_px": round(noise.across, 3),
            "candidates_in_budget": int(max(0.0, budget_s - r["parent_s"]) / r["per_candidate_s"]),
            "per_candidate_s": round(r["per_candidate_s"], 2), "parent_s": round(r["parent_s"], 1),
            "parent_steps": r.get("parent_steps"), "parent_epochs": r.get("parent_epochs"),
            "kendall_tau_error": round(tau, 3), "kendall_tau_error_ci": [round(x, 3) for x in ci], "n": len(means)}


def inherited_truth(arm: dict, archs, train, val, cfg, space, device) -> list[float]:
    """Each architecture trained with the truth's recipe (seed 0) from its weights sliced out of the
    supernet arm's parent, BatchNorm recalibrated: how `retrain --init supernet` starts."""
    recipe = resolve_recipe(dataclasses.replace(space.proxy.recipe, epochs=cfg["truth_epochs"], device=device,
                                                aug_multiplier=1, seed=0))
    data = train.subset(slice(0, min(cfg["truth_images"], len(train))))
    errors = []
    for arch, _ in archs:
        child = child_for(arm["parents"][arch.backbone], arch, arm["data"], space.supernet.bn_images)
        errors.append(train_model(child, data, val, recipe, arch.input_size).px_error)
    return errors


if __name__ == "__main__":
    torch.manual_seed(0)
    random.seed(0)
    main()
