"""Benchmark: `write_report` on a 500-trial SQLite study (goal < 5 s).

Run: `.venv/bin/python bench/bench_report.py`. Prints one JSON line:
{"bench": "report_500_trials", "seconds": ...}. Building the study is not timed; reading it back
from storage is (that is part of every real report).
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from nas.model.cost import score

N_TRIALS = 500
DISTRIBUTIONS = {
    "backbone": CategoricalDistribution(["mobilenetv2", "mobilenetv3_small"]),
    "backbone_width": FloatDistribution(0.25, 1.5),
    "head_depth": IntDistribution(1, 8),
    "head_width": FloatDistribution(0.125, 4.0, log=True),
    "aug_multiplier": IntDistribution(1, 10),
}


def synthetic_trial(rng: np.random.Generator, i: int) -> FrozenTrial:
    """A plausible trial: cost from the widths, error falling with width; ~10 % pruned, ~3 % failed."""
    params = {
        "backbone": str(rng.choice(["mobilenetv2", "mobilenetv3_small"])),
        "backbone_width": float(rng.uniform(0.25, 1.5)),
        "head_depth": int(rng.integers(1, 9)),
        "head_width": float(np.exp(rng.uniform(np.log(0.125), np.log(4.0)))),
        "aug_multiplier": int(rng.integers(1, 11)),
    }
    v2 = params["backbone"] == "mobilenetv2"
    gflops = (0.49 if v2 else 0.11) * params["backbone_width"] ** 2 + 0.06 * params["head_width"] * params["head_depth"]
    mparams = (1.8 if v2 else 0.93) * params["backbone_width"] + 0.4 * params["head_width"] * params["head_depth"]
    arch = {k: params[k] for k in ("backbone", "backbone_width", "head_depth", "head_width")}
    arch.update(input_size=224, num_keypoints=21)
    attrs = {"arch": arch, "gflops": gflops, "mparams": mparams, "cost": gflops * mparams}
    roll = rng.random()
    if roll < 0.10:
        attrs.update(skipped=bool(roll < 0.05), reason="cannot beat the best score")
        return create_trial(state=TrialState.PRUNED, params=params, distributions=DISTRIBUTIONS, user_attrs=attrs)
    if roll < 0.13:
        attrs.update(reason="TrainingDiverged: loss is nan")
        return create_trial(state=TrialState.FAIL, params=params, distributions=DISTRIBUTIONS, user_attrs=attrs)
    px = 4.5 + 1.2 / params["backbone_width"] + (0.0 if v2 else 0.8) + float(rng.normal(0, 0.3))
    attrs.update(
        recipe={"aug_multiplier": params["aug_multiplier"], "epochs": 3}, true_gmacs=gflops * 0.8, px_error=px,
        pck=0.9, auc=0.8, score=score(gflops, mparams, px), train_seconds=float(rng.uniform(60, 600)),
        images_per_s=float(rng.uniform(20, 200)), px_error_is_estimate=False,
    )
    if i < 2:
        attrs["baseline"] = ["seed_mobilenetv2_full", "seed_mobilenetv3_small"][i]
    return create_trial(value=attrs["score"], params=params, distributions=DISTRIBUTIONS, user_attrs=attrs)


def main() -> None:
    from nas.report import write_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        study = optuna.create_study(storage=f"sqlite:///{tmp}/bench.db", study_name="bench")
        study.set_user_attr("objective", "score")
        study.add_trials([synthetic_trial(rng, i) for i in range(N_TRIALS)])
        loaded = optuna.load_study(study_name="bench", storage=f"sqlite:///{tmp}/bench.db")
        start = time.perf_counter()
        write_report(loaded, Path(tmp) / "report.html")
        seconds = time.perf_counter() - start
    print(json.dumps({"bench": "report_500_trials", "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main()
