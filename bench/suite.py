"""The evidence suite: does the search beat what a user gets without it? Every figure measured side
by side in one run on the built-in synthetic hands, written as JSON lines.

    .venv/bin/python bench/suite.py --size small    # make bench: <= 75 min on a 2-core CPU
    .venv/bin/python bench/suite.py --size full     # make bench-full: the GPU size
    .venv/bin/python bench/suite.py --size smoke    # a pipeline check (minutes; figures meaningless)

Figures (`figure` field of each line; small and full append to docs/results/suite-<size>.jsonl):
  search_run     one line per arm and seed: best score, wall time, trials complete / pruned / skipped
  four_arms      Random, Random + pruning/skip, TPE, TPE + pruning/skip (the default), same space,
                 data, trial budget and seeds: time to reach plain Random's final best / Random's own
                 time to it (never = inf), median and per seed, share of seeds reaching it, final-best
                 ratio. Goal for the default: <= 0.5 on the median.
  pruning        the same sampler with and without pruning/skip, both executed: wall times, time saved
  skip_replay    each run of the arms that train everything, replayed with the skip rule active in 200
                 random orders over 1 and 8 workers (bench/skip_audit.py): false skips, trials at risk,
                 trainings saved, beside the rule's first form. Goal: 0 false skips.
  proxy_noise    architectures spread over the cost range, each trained with several seeds at the proxy
                 budget: error spread within an architecture vs across the space's architectures, and
                 the intraclass correlation of the repeated ones (`icc`, the share of the variance that
                 is architecture, not seed; >= 0.5: the proxy separates candidates)
  default_study  one study as `handkp-search study` runs it (TPE + pruning/skip, starting from the
                 baselines: the course report's models and the space's cheapest), same trial budget,
                 seed 0: its pick is what the user gets
  retrain        the trivial baselines, each fully retrained with one shared recipe and several seeds:
                 the default study's pick, the cheapest architecture of the space, random ones, the
                 course report's final model. Goal: the pick scores below the cheapest and every random.
  retrain_noise  the retrains' seed spread against their spread across architectures (each distinct
                 architecture once), and their intraclass correlation (`icc`)
  fidelity       architectures spread over the cost range of the Random studies' trials, retrained:
                 Kendall tau and Spearman rho of proxy vs retrain, on score and on error, with bootstrap
                 95% intervals, and the same for a ranking by cost alone (dearer = lower error), which
                 needs no proxy. Goal: tau on error >= 0.6 and above the cost-only ranking's. The tau
                 on score is mostly cost (cost is exact in proxy and retrain): it equals the cost-only
                 tau on score when the errors barely differ, and says nothing of the proxy's quality.
  overheads      cost counting s/model, report build s for 500 trials
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import yaml
from common.arguments import doc_parser
from common.benchmarks import (
    best_score,
    evenly_spaced,
    finite,
    four_arms,
    json_safe,
    noise_fields,
    pruning_measured,
    trivial_goal,
    wall_time,
)
from common.evidence import (
    ARMS,
    DEFAULT,
    Retrained,
    RetrainJob,
    proxy_errors,
    retrain_many,
    run_arm,
    trivial_roles,
)
from common.replay import from_records, replay_rows
from common.run_info import run_info

from nas.data import DataSpec, load_for_space
from nas.deploy.fidelity import correlations
from nas.deploy.spec import full_recipe
from nas.model.arch import ArchConfig
from nas.search.noise import proxy_noise
from nas.search.space import load_space, parse_space
from nas.training.device import resolve_device
from nas.training.threads import available_cores

ROOT = Path(__file__).resolve().parents[1]

SMALL_SPACE = """
space:
  backbone: [mobilenetv2, mobilenetv3_small]
  backbone_width: {low: 0.25, high: 1.5, step: 0.05}
  head_width: {low: 0.125, high: 2.0, step: 0.125}
  head_depth: {low: 1, high: 4}
  aug_multiplier: {low: 1, high: 3}
input_size: 64
proxy: {train_size: 64, epochs: 2, train_images: 300, val_images: 150, batch_size: 32, lr: 4.0e-3,
        lr_min: 1.0e-4, loss: dsnt, rotation: 180, sigma: 2.0}
data: {source: synthetic, seed: 0}
search: {startup_trials: 4, prune_percentile: 50, prune_warmup_epochs: 1, pre_train_margin_px: 1.0}
"""


@dataclass(frozen=True)
class Size:
    trials: int  # per study
    seeds: int  # per arm
    retrain: tuple[int, int, int]  # train / val / test images of the full retrains
    recipe: dict[str, Any]  # the shared full-retrain recipe: full_recipe() with these fields changed
    fidelity: int  # architectures retrained for the fidelity figure
    noise_archs: int  # architectures repeated for the proxy-noise figure
    noise_seeds: int  # seeds per repeated architecture (proxy and retrain)
    random_archs: int = 3  # random architectures among the trivial baselines
    space: Path | None = None  # None: SMALL_SPACE
    proxy: dict[str, Any] = field(default_factory=dict)  # proxy: keys changed


SIZES = {
    # retrains: 2,000 images x 4 epochs x aug 1 gave seed noise 0.25 px against 0.28 px across the baselines'
    # architectures (SNR 1.12); 4,000 x 6 (3x the steps) gave 0.18 against 0.57 px (SNR 3.1), the models at
    # 10.9-12.4 px instead of 13.5-14.4 (suite-small.jsonl, 2026-11-29 and 2026-11-30)
    "small": Size(trials=10, seeds=5, retrain=(4000, 300, 300), recipe=dict(epochs=6, aug_multiplier=1),
                  fidelity=12, noise_archs=4, noise_seeds=3),
    "smoke": Size(trials=4, seeds=2, retrain=(64, 32, 32), recipe=dict(epochs=1, aug_multiplier=1), fidelity=3,
                  noise_archs=2, noise_seeds=2, random_archs=1, proxy=dict(train_images=48, val_images=32)),
    "full": Size(trials=60, seeds=5, retrain=(20000, 2000, 2000), recipe={}, fidelity=16, noise_archs=6,
                 noise_seeds=3, space=ROOT / "search_spaces" / "default.yaml"),
}


class Suite:
    """One run: its settings, the lines it has written, and what later figures reuse."""

    def __init__(self, size: str, device: str, out: Path, work: Path, workers: int | None = None) -> None:
        self.name, self.cfg, self.device, self.out, self.work = size, SIZES[size], device, out, work
        self.workers = workers or default_workers(device)
        space = load_space(self.cfg.space) if self.cfg.space else parse_space(yaml.safe_load(SMALL_SPACE), "small")
        self.space = replace(space, proxy=space.proxy.updated(**self.cfg.proxy)) if self.cfg.proxy else space
        title = f"Evidence suite, size {size}" + (" (make bench)" if size == "small" else "")
        self.context = {"bench": "suite", "title": title, "size": size, **run_info("bench/suite.py")}
        self.lines: list[dict] = []
        self.partial = work.parent / f"{size}.partial.jsonl"  # every line as it comes, should the run stop early
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.partial.write_text("")
        self.studies: dict[tuple[str, int], optuna.Study] = {}
        self.runs: dict[str, list] = {arm.name: [] for arm in ARMS}

    def emit(self, figure: str, **values: Any) -> None:
        line = {**self.context, "figure": figure, **values}
        self.lines.append(line)
        print(json.dumps(line), flush=True)
        with self.partial.open("a") as f:
            f.write(json.dumps(line) + "\n")

    # --- search ---------------------------------------------------------------------------------
    def search(self) -> None:
        p = self.space.proxy
        data = load_for_space(DataSpec(seed=self.space.data.seed), p.train_images, p.val_images, p.train_size)
        for seed in range(self.cfg.seeds):
            for arm in ARMS[seed % len(ARMS):] + ARMS[:seed % len(ARMS)]:  # machine drift hits every arm alike
                study, recs = run_arm(arm, self.space, seed, self.cfg.trials, data, self.device)
                self.studies[arm.name, seed] = study
                self.runs[arm.name].append(recs)
                self.emit("search_run", arm=arm.name, seed=seed, **_run_fields(recs))

    def default_study(self) -> None:
        p = self.space.proxy
        data = load_for_space(DataSpec(seed=self.space.data.seed), p.train_images, p.val_images, p.train_size)
        study, recs = run_arm(DEFAULT, self.space, 0, self.cfg.trials, data, self.device)
        self.studies[DEFAULT.name, 0] = study
        best = self._best(study)
        self.emit("default_study", arm=DEFAULT.name, seed=0, **_run_fields(recs),
                  pick=ArchConfig.from_dict(best.user_attrs["arch"]).short(),
                  pick_baseline=best.user_attrs.get("baseline", ""))

    @staticmethod
    def _best(study: optuna.Study):
        return min((t for t in study.trials if t.state.name == "COMPLETE" and not t.user_attrs.get("repeat")),
                   key=lambda t: t.user_attrs["score"])

    def comparisons(self) -> None:
        for arm, s in four_arms(self.runs).items():
            goal = {"goal": "time_ratio_median <= 0.5"} if arm == "tpe_prune" else {}
            self.emit("four_arms", arm=arm, seeds=self.cfg.seeds, trials=self.cfg.trials,
                      **json_safe(s), **goal)
        for sampler in ("tpe", "random"):
            m = pruning_measured(self.runs[f"{sampler}_prune"], self.runs[sampler])
            self.emit("pruning", sampler=sampler, checks_per_epoch=self.space.search.checks_per_epoch,
                      **json_safe(m))

    def skips(self) -> None:
        """The skip rule replayed over each run that trained everything (bench/skip_audit.py)."""
        search = self.space.search
        for arm in ("random", "tpe"):
            for seed, recs in enumerate(self.runs[arm]):
                for row in replay_rows(from_records(recs), search.pre_train_margin_px, search.pre_train_min_peers):
                    self.emit("skip_replay", arm=arm, seed=seed, **row)

    # --- proxies and retrains ---------------------------------------------------------------------
    def pooled(self) -> list[dict[str, Any]]:
        """Every complete trial of the Random studies (uniform draws from the space), cheapest first."""
        rows = [{"arch": ArchConfig.from_dict(t.user_attrs["arch"]), "aug": t.params["aug_multiplier"],
                 "cost": t.user_attrs["cost"], "px": t.user_attrs["px_error"], "score": t.user_attrs["score"]}
                for (arm, _), st in self.studies.items() if arm == "random"
                for t in st.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        return sorted(rows, key=lambda r: r["cost"])

    def noise(self) -> None:
        p, pool = self.space.proxy, self.pooled()
        data = load_for_space(DataSpec(seed=self.space.data.seed), p.train_images, p.val_images, p.train_size)
        chosen = [pool[i] for i in evenly_spaced(len(pool), self.cfg.noise_archs)]
        groups = {r["arch"].short(): proxy_errors(r["arch"], self.space, r["aug"], range(self.cfg.noise_seeds),
                                                  data, self.device) for r in chosen}
        summary = proxy_noise(groups, [r["px"] for r in pool])
        self.emit("proxy_noise", errors_by_arch={k: [round(x, 3) for x in v] for k, v in groups.items()},
                  across_trials=len(pool), **noise_fields(summary))

    def shared_recipe(self):
        return full_recipe(**{"device": self.device, **self.cfg.recipe})

    def data_spec(self) -> DataSpec:
        tr, va, te = self.cfg.retrain
        return DataSpec(train_images=tr, val_images=va, test_images=te, seed=self.space.data.seed)

    def retrains(self, steps: set[str]) -> None:
        """The trivial baselines' and the fidelity architectures' retrains, run side by side in
        `self.workers` processes, then their figures."""
        roles = trivial_roles(self.space, self.pick(), self.cfg.random_archs) if "retrain" in steps else {}
        first = {}  # a role with another's architecture (the pick may be the cheapest) shares its cells
        for role, arch in roles.items():
            first.setdefault(arch, role)
        pool = self.pooled() if "fidelity" in steps else []
        chosen = [pool[i] for i in evenly_spaced(len(pool), self.cfg.fidelity)] if pool else []
        jobs = [self.job(role, arch, s) for arch, role in first.items() for s in range(self.cfg.noise_seeds)]
        jobs += [self.job(f"fidelity{i}", r["arch"], 0) for i, r in enumerate(chosen)]
        done = {}
        for r in retrain_many(jobs, self.workers):
            self.emit("retrain", **asdict(r))
            done[r.role, r.seed] = r
        if roles:
            self.trivial(roles, {arch: [done[role, s] for s in range(self.cfg.noise_seeds)]
                                 for arch, role in first.items()})
        if chosen:
            self.fidelity(chosen, [done[f"fidelity{i}", 0] for i in range(len(chosen))])

    def trivial(self, roles: dict[str, ArchConfig], runs: dict[ArchConfig, list[Retrained]]) -> None:
        results = {role: runs[arch] for role, arch in roles.items()}
        means = {role: statistics.mean(r.score for r in rs) for role, rs in results.items()}
        for role in roles:
            self.emit("trivial", role=role, arch=roles[role].short(), seeds=self.cfg.noise_seeds,
                      mean_score=round(means[role], 6), pick_over_this=round(means["pick"] / means[role], 3),
                      mean_px=round(statistics.mean(r.px_error for r in results[role]), 3))
        self.emit("trivial_goal", **trivial_goal(means))
        summary = proxy_noise({a.short(): [r.px_error for r in rs] for a, rs in runs.items()},
                              [statistics.mean(r.px_error for r in rs) for rs in runs.values()])
        self.emit("retrain_noise", **noise_fields(summary), recipe=_recipe(self.shared_recipe()),
                  images=list(self.cfg.retrain))

    def pick(self) -> ArchConfig:
        """The default study's best trial, as `pick` would take it."""
        return ArchConfig.from_dict(self._best(self.studies[DEFAULT.name, 0]).user_attrs["arch"])

    def job(self, role: str, arch: ArchConfig, seed: int) -> RetrainJob:
        return RetrainJob(role, arch, self.shared_recipe(), seed, self.data_spec(), self.work)

    def fidelity(self, chosen: list[dict[str, Any]], full: list[Retrained]) -> None:
        c = correlations([r["score"] for r in chosen], [f.score for f in full], [r["px"] for r in chosen],
                         [f.px_error for f in full], cost=[f.gflops * f.mparams for f in full])
        self.emit("fidelity", **json_safe(c), recipe=_recipe(self.shared_recipe()),
                  goal="kendall_tau_error >= 0.6 and above cost_only_kendall_tau_error (a ranking by cost alone)")

    def overheads(self) -> None:
        import subprocess

        for script in ("bench_cost.py", "bench_report.py"):
            out = subprocess.run([sys.executable, str(ROOT / "bench" / script)], capture_output=True, text=True,
                                 check=True).stdout
            for line in out.splitlines():
                if line.startswith("{"):
                    values = json.loads(line)
                    self.emit("overheads", measure=values.pop("bench"), **values)


def default_workers(device: str) -> int:
    """Retrain processes side by side: one on a GPU, else two sharing the cores (more throughput on a
    CPU than one process with every thread, docs/results/workers-threads.jsonl)."""
    return 1 if resolve_device(device).type != "cpu" else min(2, available_cores())


def _run_fields(recs) -> dict[str, Any]:
    """One study's line: best score, wall time, trials complete / pruned / skipped."""
    return {"best_score": finite(best_score(recs)), "wall_s": round(wall_time(recs), 1),
            "complete": sum(r.state == "COMPLETE" for r in recs),
            "pruned": sum(r.state == "PRUNED" and not r.skipped for r in recs), "skipped": sum(r.skipped for r in recs)}


def _recipe(r) -> dict[str, Any]:
    return {k: getattr(r, k) for k in ("epochs", "aug_multiplier", "lr", "lr_min", "batch_size")}


STEPS = ("search", "noise", "retrain", "fidelity", "overheads")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def parse_args() -> argparse.Namespace:
    ap = doc_parser(__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    ap.add_argument("--workers", type=_positive, default=None, metavar="N",
                    help="retrain processes side by side (default: 2 on a CPU with 2+ cores, 1 on a GPU)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON lines file to append to (default docs/results/suite-<size>.jsonl; smoke: "
                         "reports/bench-smoke.jsonl)")
    ap.add_argument("--skip", action="append", default=[], choices=STEPS[1:],
                    help="leave out a step (the search always runs: every later figure reads its studies)")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    default_out = (ROOT / "reports" / "bench-smoke.jsonl" if args.size == "smoke"
                   else ROOT / "docs" / "results" / f"suite-{args.size}.jsonl")
    work = ROOT / "reports" / "bench" / args.size
    shutil.rmtree(work, ignore_errors=True)  # retrains resume from checkpoints: a fresh run starts clean
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    suite, started = Suite(args.size, args.device, args.out or default_out, work, args.workers), time.perf_counter()
    suite.search()
    suite.default_study()
    suite.comparisons()
    suite.skips()
    if "noise" not in args.skip:
        suite.noise()
    suite.retrains({"retrain", "fidelity"} - set(args.skip))
    if "overheads" not in args.skip:
        suite.overheads()
    suite.emit("suite_done", seconds=round(time.perf_counter() - started), size_settings=_settings(suite))
    suite.out.parent.mkdir(parents=True, exist_ok=True)
    with suite.out.open("a") as f:
        f.writelines(json.dumps(line) + "\n" for line in suite.lines)
    suite.partial.unlink()
    print(f"figures appended to {suite.out}", file=sys.stderr)


def _settings(suite: Suite) -> dict[str, Any]:
    c, p = suite.cfg, suite.space.proxy
    return {"trials": c.trials, "seeds": c.seeds, "input_px": suite.space.input_size, "proxy_px": p.train_size,
            "proxy_images": p.train_images, "proxy_epochs": p.recipe.epochs, "retrain_images": list(c.retrain),
            "retrain_workers": suite.workers}


if __name__ == "__main__":
    main()
