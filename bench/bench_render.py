"""Rendering throughput of the synthetic hand dataset, single process.

Prints one JSON line per input size, e.g.
{"bench": "render", "size": 128, "images": 2000, "seconds": 2.1, "images_per_s": 950.0}
Usage: python bench/bench_render.py [--count 2000] [--sizes 128 224]
"""
from __future__ import annotations

import argparse
import json
import time

from nas.data.synth import render_batch


def bench(size: int, count: int, seed: int = 0) -> dict:
    """Time render_batch over `count` images after a short warm-up (imports, noise table)."""
    render_batch(16, size, seed + 1)
    t0 = time.perf_counter()
    render_batch(count, size, seed)
    dt = time.perf_counter() - t0
    return {"bench": "render", "size": size, "images": count, "seconds": round(dt, 3),
            "images_per_s": round(count / dt, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    args = parser.parse_args(argv)
    for size in args.sizes:
        print(json.dumps(bench(size, args.count)), flush=True)


if __name__ == "__main__":
    main()
