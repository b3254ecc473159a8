"""Workers sharing one GPU: the combined training images/s of 1, 2, 4 and 8 processes, each running
`train()` with its default recipe (on CUDA: bfloat16, channels_last, the captured step) on the
course report's final model at 224 px, batch 64, started together behind a barrier.

    .venv/bin/python bench/bench_gpu_workers.py --save     # -> docs/results/gpu-workers.jsonl
    .venv/bin/python bench/bench_gpu_workers.py --device cpu --counts 1,2 --images 64 --size 64   # smoke

Each process trains `--epochs` epochs of `--images` random images (the step's cost does not depend on
what the pixels show); its figure is the last epoch's training-loop images/s (the first epoch holds
the warm-up steps and the capture). The line per count holds each process's figure and their sum.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

from common.arguments import doc_parser
from common.run_info import run_info

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "gpu-workers.jsonl"
MODEL = ("mobilenetv3_small", 1.0, 2, 1.25)  # the course report's final model


def _worker(barrier, queue, device: str, size: int, images: int, epochs: int, batch: int, seed: int) -> None:
    import torch

    from nas.data import KeypointDataset
    from nas.model.arch import ArchConfig
    from nas.model.network import build_model
    from nas.training.recipe import TrainConfig
    from nas.training.threads import set_threads
    from nas.training.trainer import train

    set_threads(1)
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (images, 3, size, size), dtype=torch.uint8, generator=g)
    kp = size / 8 + size * 0.75 * torch.rand(images, 21, 2, generator=g)
    data = KeypointDataset(imgs, kp, torch.full((images, 21), 2, dtype=torch.uint8))
    val = data.subset(slice(0, min(64, images)))
    model = build_model(ArchConfig(*MODEL, input_size=size), seed=seed)
    recipe = TrainConfig(epochs=epochs, batch_size=batch, device=device, seed=seed)
    barrier.wait()
    result = train(model, data, val, recipe)
    queue.put({"images_per_s": result.history[-1].images_per_s, "compute": result.compute})


def measure(count: int, args: argparse.Namespace) -> list[dict]:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(barrier, queue, args.device, args.size, args.images, args.epochs,
                                               args.batch, i)) for i in range(count)]
    for p in procs:
        p.start()
    out = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return out


def main() -> None:
    ap = doc_parser(__doc__)
    ap.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu (default cuda)")
    ap.add_argument("--counts", default="1,2,4,8", help="worker counts, comma-separated (default 1,2,4,8)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=2048, help="images per epoch per worker (default 2048)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--save", action="store_true", help=f"append to {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--out", type=Path, default=None, help="append to this file instead")
    args = ap.parse_args()
    try:
        counts = [int(c) for c in args.counts.split(",")]
    except ValueError:
        ap.error(f"--counts: expected whole numbers separated by commas, got {args.counts!r}")
    context = {"bench": "gpu_workers", **run_info("bench/bench_gpu_workers.py"), "device": args.device,
               "size_px": args.size, "batch_size": args.batch, "images_per_epoch": args.images,
               "model": "course report's final model (mobilenetv3_small x1.00 | head 2x1.25)"}
    for count in counts:
        per = measure(count, args)
        line = {**context, "workers": count, "per_worker_images_per_s": [round(p["images_per_s"], 1) for p in per],
                "combined_images_per_s": round(sum(p["images_per_s"] for p in per), 1), "compute": per[0]["compute"]}
        print(json.dumps({k: v for k, v in line.items() if k not in ("machine", "date", "command")}), flush=True)
        out = args.out or (RESULTS if args.save else None)
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
