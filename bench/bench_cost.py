"""Seconds to count one model's exact cost (thop GFLOPs, parameters, torch's true MACs) at 224 px.

    .venv/bin/python bench/bench_cost.py

Goal: under 1 s per model on a 2-core CPU. Prints one JSON line per architecture and a summary.
"""
from __future__ import annotations

import json
import time

from nas.model.arch import ArchConfig
from nas.model.cost import count_cost

ARCHS = [
    ArchConfig("mobilenetv3_small", 0.35, 1, 0.25),
    ArchConfig("mobilenetv3_small", 1.0, 2, 2.0),
    ArchConfig("mobilenetv2", 1.0, 2, 2.0),
    ArchConfig("mobilenetv2", 1.5, 4, 2.0),
]


def main() -> None:
    count_cost(ARCHS[0])  # import and first-call warm-up, not part of the figure
    times = []
    for arch in ARCHS:
        t0 = time.perf_counter()
        c = count_cost(arch)
        dt = time.perf_counter() - t0
        times.append(dt)
        print(json.dumps({"bench": "cost", "model": arch.short(), "gflops": c.gflops, "mparams": c.mparams,
                          "true_gmacs": c.true_gmacs, "seconds": round(dt, 3)}))
    print(json.dumps({"bench": "cost_summary", "max_seconds": round(max(times), 3), "goal_seconds": 1.0}))


if __name__ == "__main__":
    main()
