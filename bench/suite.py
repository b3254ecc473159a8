"""The benchmark suite: every figure a user needs to trust the tool, as JSON lines, measured side by
side in one run on the built-in synthetic hands.

    .venv/bin/python bench/suite.py --size small      # <= ~30 min on a 2-core CPU (make bench)
    .venv/bin/python bench/suite.py --size full       # the GPU-sized run

Figures (each a JSON line on stdout, all collected in reports/bench-<size>.jsonl):
  1 trainer_efficiency   proxy trainer images/s / bare loop images/s (goal >= 0.95)
  2 search_vs_random     default sampler + pruning vs RandomSampler without pruning, same space and
                         budget, median over seeds: time for the default to reach random's final best
                         / random's total time (goal <= 0.5), and the best-score ratio
  3 pruning              TPE with vs without pruning (same seeds): share pruned or skipped, training
                         time saved, best-score ratio (must not get worse: <= 1)
  4 headline             best trial of the default study, retrained, / the seed report's final model
                         retrained with the same recipe and data: score ratio (goal <= 0.5)
  5 proxy_fidelity       Kendall tau (and Spearman rho) proxy vs retrained score over >= 6
                         architectures, and on the error alone (goal >= 0.7)
  6 overheads            cost counting s/model, report build s for 500 trials (goal < 5)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402
import yaml  # noqa: E402
from benchmarks import TrialRecord, pruning_summary, ratio, search_vs_random  # noqa: E402

from nas.data import DataSpec, load_for_space  # noqa: E402
from nas.deploy.retrain import retrain  # noqa: E402
from nas.deploy.spec import ArchSpec, full_recipe  # noqa: E402
from nas.io import write_text_atomic  # noqa: E402
from nas.search import SEED_BASELINES, run_study  # noqa: E402
from nas.search.fidelity import run_fidelity, select_trials  # noqa: E402
from nas.search.space import load_space, parse_space  # noqa: E402

SMALL_SPACE = """
space:
  backbone: [mobilenetv2, mobilenetv3_small]
  backbone_width: {low: 0.25, high: 1.5, step: 0.05}
  head_width: {low: 0.125, high: 2.0, step: 0.125}
  head_depth: {low: 1, high: 4}
  aug_multiplier: {low: 1, high: 4}
input_size: 128
proxy: {train_size: 64, epochs: 3, train_images: 400, val_images: 200, batch_size: 32, lr: 4.0e-3,
        lr_min: 1.0e-4, loss: dsnt, rotation: 180, sigma: 2.0}
data: {source: synthetic, seed: 0}
search: {startup_trials: 4, prune_percentile: 50, prune_warmup_epochs: 1, pre_train_margin_px: 1.7}
"""

SIZES = {
    "small": dict(space=None, trials=10, seeds=3, trainer=["--size", "128", "--images", "512", "--repeats", "3",
                           "--backbone", "mobilenetv3_small"],
                  retrain=dict(train=800, val=200, test=200), recipe=dict(epochs=3, lr=4e-3, lr_min=1e-4),
                  top=4, random=2),
    # a pipeline check only (a minute or two): its figures mean nothing
    "smoke": dict(space=None, trials=3, seeds=1, trainer=["--size", "64", "--images", "64", "--repeats", "1"],
                  retrain=dict(train=64, val=32, test=32), recipe=dict(epochs=1, lr=4e-3, lr_min=1e-4),
                  top=2, random=1, proxy=dict(train_images=64, val_images=32, epochs=2)),
    "full": dict(space=ROOT / "search_spaces" / "default.yaml", trials=60, seeds=3,
                 trainer=["--size", "224", "--images", "4096", "--repeats", "3"],
                 retrain=dict(train=20000, val=2000, test=2000), recipe={}, top=6, random=4),
}
ARMS = ("default", "tpe_noprune", "random")


def emit(lines: list[dict], record: dict) -> None:
    lines.append(record)
    print(json.dumps(record), flush=True)


def run_script(lines: list[dict], script: str, *args: str) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            emit(lines, json.loads(line))


def make_study(arm: str, space, seed: int) -> optuna.Study:
    if arm == "random":
        sampler, pruner = optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=space.search.startup_trials,
                                             multivariate=True, constant_liar=True)
        pruner = (optuna.pruners.PercentilePruner(space.search.prune_percentile, n_startup_trials=3,
                                                  n_warmup_steps=space.search.prune_warmup_epochs)
                  if arm == "default" else optuna.pruners.NopPruner())
    study = optuna.create_study(study_name=f"{arm}-{seed}", direction="minimize", sampler=sampler, pruner=pruner)
    study.set_user_attr("objective", "score")
    return study


def records(study: optuna.Study, t0: float, epochs: int) -> list[TrialRecord]:
    out = []
    for t in study.trials:
        if t.datetime_complete is None:
            continue
        ua = t.user_attrs
        out.append(TrialRecord(
            end_s=t.datetime_complete.timestamp() - t0, state=t.state.name, score=ua.get("score"),
            train_s=t.duration.total_seconds(), skipped=bool(ua.get("skipped")),
            epochs_run=len(ua.get("history_px") or []), epochs_planned=epochs,
        ))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines file (default reports/bench-<size>.jsonl)")
    ap.add_argument("--skip", action="append", default=[], choices=["trainer", "search", "retrain", "overheads"])
    args = ap.parse_args()
    cfg = SIZES[args.size]
    out = args.out or ROOT / "reports" / f"bench-{args.size}.jsonl"
    work = ROOT / "reports" / "bench" / args.size
    lines: list[dict] = []
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(cfg["space"]) if cfg["space"] else parse_space(yaml.safe_load(SMALL_SPACE), "bench small space")
    if "proxy" in cfg:
        space = replace(space, proxy=space.proxy.updated(**cfg["proxy"]))
    emit(lines, {"bench": "suite", "size": args.size, "trials": cfg["trials"], "seeds": cfg["seeds"],
                 "input_size": space.input_size, "proxy_px": space.proxy.train_size})

    if "trainer" not in args.skip:  # 1
        run_script(lines, "bench_trainer.py", *cfg["trainer"], "--device", args.device)

    studies: dict[tuple[str, int], optuna.Study] = {}
    if "search" not in args.skip:  # 2, 3
        p = space.proxy
        train, val = load_for_space(DataSpec(seed=space.data.seed), p.train_images, p.val_images, p.train_size)
        runs: dict[str, list[list[TrialRecord]]] = {arm: [] for arm in ARMS}
        for seed in range(cfg["seeds"]):
            for arm in ARMS:
                study = make_study(arm, space, seed)
                t0 = time.time()
                run_study(study, space, cfg["trials"], train, val, device=args.device, seed=seed, baselines=False,
                          skip_hopeless=arm == "default")
                studies[arm, seed] = study
                runs[arm].append(records(study, t0, p.recipe.epochs))
                best = min((r.score for r in runs[arm][-1] if r.score is not None and r.state == "COMPLETE"),
                           default=None)
                emit(lines, {"bench": "search_run", "arm": arm, "seed": seed, "best_score": best,
                             "seconds": round(max(r.end_s for r in runs[arm][-1]), 1),
                             "complete": sum(r.state == "COMPLETE" for r in runs[arm][-1]),
                             "pruned": sum(r.state == "PRUNED" for r in runs[arm][-1])})
        svr = search_vs_random(list(zip(runs["default"], runs["random"])))
        emit(lines, {"bench": "search_vs_random", "trials": cfg["trials"], **svr, "goal_time_ratio": 0.5})
        pr = pruning_summary(runs["default"], runs["tpe_noprune"])
        emit(lines, {"bench": "pruning", **pr, "goal_best_ratio_max": 1.0})

    if "retrain" not in args.skip and studies:  # 4, 5
        rc, data = cfg["recipe"], DataSpec(train_images=cfg["retrain"]["train"], val_images=cfg["retrain"]["val"],
                                           test_images=cfg["retrain"]["test"], seed=0)
        overrides = {**rc, "device": args.device}
        base = studies["tpe_noprune", 0]  # every trial complete: the widest choice of architectures
        numbers = select_trials(base, cfg["top"], cfg["random"], seed=0)
        fid = run_fidelity(base, numbers, data, work / "fidelity", overrides)
        c = fid.correlations
        emit(lines, {"bench": "proxy_fidelity", "n": c["n"], "kendall_tau_score": c["kendall_tau_score"],
                     "spearman_rho_score": c["spearman_rho_score"], "kendall_tau_error": c["kendall_tau_error"],
                     "spearman_rho_error": c["spearman_rho_error"], "goal_tau": 0.7, "rows": fid.rows})
        best_study = studies["default", 0]
        best = min((t for t in best_study.trials if t.state.name == "COMPLETE"), key=lambda t: t.user_attrs["score"])
        from nas.model.arch import ArchConfig

        arch = ArchConfig.from_dict(best.user_attrs["arch"])
        spec = ArchSpec(arch, replace(full_recipe(best.user_attrs["recipe"]["aug_multiplier"]), **overrides))
        ours = retrain(spec, data, work / f"best_default_trial_{best.number}").metrics
        seed_params = dict(SEED_BASELINES["seed_mobilenetv3_small_reduced"])
        aug = seed_params.pop("aug_multiplier")
        seed_arch = ArchConfig(**seed_params, input_size=space.input_size)
        seed_spec = ArchSpec(seed_arch, replace(full_recipe(aug), **overrides))
        theirs = retrain(seed_spec, data, work / "seed_reduced").metrics
        emit(lines, {"bench": "headline", "best_trial": best.number, "best_arch": arch.short(),
                     "best_score": ours["score"], "best_px": ours["test_px_error"], "seed_arch": seed_arch.short(),
                     "seed_score": theirs["score"], "seed_px": theirs["test_px_error"],
                     "score_ratio": ratio(ours["score"], theirs["score"]), "goal": 0.5,
                     "recipe": {**spec.recipe.to_dict()}, "data": cfg["retrain"]})

    if "overheads" not in args.skip:  # 6
        run_script(lines, "bench_cost.py")
        run_script(lines, "bench_report.py")

    emit(lines, {"bench": "suite_done", "size": args.size, "seconds": round(time.perf_counter() - started)})
    write_text_atomic(out, "".join(json.dumps(x) + "\n" for x in lines))
    print(f"figures written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
