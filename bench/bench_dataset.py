"""Dataset decode + cache throughput, and the second-run load time of a large set.

    .venv/bin/python bench/bench_dataset.py --count 30000 --probe 2000

Writes `count` 224x224 JPEGs (synthetic hands, re-encoded) with a labels.csv into a temporary
folder, then prints JSON lines:
  - decode+cache images/s with one worker process and with all cores, on the first `probe` images
    (fresh caches, so every image is decoded, resized and written);
  - the first (decoding) and second (cached) load time of all `count` images.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from nas.data.formats.csv_format import write_csv
from nas.data.loader import load_dataset
from nas.data.synthetic import synthetic_dataset


def make_set(folder: Path, count: int, size: int) -> None:
    """`count` JPEGs cycling through 500 rendered hands (keypoints follow the source image)."""
    base = min(count, 500)
    images, keypoints, visibility = synthetic_dataset(base, size, seed=99)
    (folder / "images").mkdir(parents=True)
    names = []
    for i in range(count):
        j = i % base
        bgr = cv2.cvtColor(np.ascontiguousarray(images[j].transpose(1, 2, 0)), cv2.COLOR_RGB2BGR)
        name = f"images/{i:06d}.jpg"
        cv2.imwrite(str(folder / name), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        names.append(name)
    idx = np.arange(count) % base
    write_csv(folder / "labels.csv", names, keypoints[idx], visibility[idx])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=30000)
    ap.add_argument("--probe", type=int, default=2000)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="handkp-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        make_set(tmp / "big", args.count, args.size)
        make_set(tmp / "probe", args.probe, args.size)
        written = round(time.perf_counter() - t0, 1)
        print(json.dumps({"bench": "dataset_write", "images": args.count, "seconds": written}), flush=True)
        for workers in (1, cores):
            t0 = time.perf_counter()
            d = load_dataset(tmp / "probe", "csv", args.size, cache_dir=tmp / f"cache-probe-{workers}", workers=workers)
            dt = time.perf_counter() - t0
            assert not d.from_cache and len(d.data) == args.probe
            print(json.dumps({"bench": "decode_cache", "workers": workers, "images": args.probe,
                              "images_per_s": round(args.probe / dt, 1),
                              "images_per_s_per_core": round(args.probe / dt / workers, 1)}), flush=True)
        t0 = time.perf_counter()
        first = load_dataset(tmp / "big", "csv", args.size, cache_dir=tmp / "cache", workers=cores)
        t1 = time.perf_counter()
        second = load_dataset(tmp / "big", "csv", args.size, cache_dir=tmp / "cache", workers=cores)
        t2 = time.perf_counter()
        assert not first.from_cache and second.from_cache and len(second.data) == args.count
        checksum = int(second.data.images[:: max(1, args.count // 100)].sum())  # touch the memory map
        print(json.dumps({"bench": "load", "images": args.count, "size": args.size, "workers": cores,
                          "first_run_s": round(t1 - t0, 1), "second_run_s": round(t2 - t1, 2),
                          "checksum": checksum}), flush=True)


if __name__ == "__main__":
    main()
