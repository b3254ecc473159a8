"""Workers sharing one GPU: the combined training images/s of 1, 2, 4 and 8 processes, each running
`train()` with its default recipe (on CUDA: bfloat16, channels_last, the captured step) on the
course report's final model at 224 px, batch 64, started together behind a barrier.

The processes start once (Python, torch and the CUDA context are paid before the first round, not
per count): round c trains in processes 0..c-1 while the others wait at the next round's barrier,
which every process of the next round reaches only after its own training, so no two rounds overlap.

    .venv/bin/python bench/bench_gpu_workers.py --save     # -> docs/results/gpu-workers.jsonl
    .venv/bin/python bench/bench_gpu_workers.py --device cpu --counts 1,2 --images 64 --size 64   # smoke

Each process trains `--epochs` epochs (at least 2) of `--images` random images (the step's cost does
not depend on what the pixels show); only the epochs after the first are timed (the first holds the
warm-up steps and the capture). The line per count holds each process's training-loop images/s over
those epochs, their sum (`combined_images_per_s`: what the processes trained together if their timed
epochs overlapped) and `combined_span_images_per_s`: every process's timed images over the wall time
from the first timed epoch's start to the last one's end in any process, validation included. The
second is never above the first, and lower when the processes ran out of step; the worker default is
read from it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

from common.arguments import doc_parser
from common.run_info import run_info

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "gpu-workers.jsonl"
MODEL = ("mobilenetv3_small", 1.0, 2, 1.25)  # the course report's final model


def _worker(index: int, barriers: dict, queue, device: str, size: int, images: int, epochs: int, batch: int
            ) -> None:
    """Process `index`: its data once, then for each round it belongs to (counts above `index`, in
    rising order) a fresh model trained from the round's barrier; each round's figure onto `queue`."""
    import torch

    from nas.data import KeypointDataset
    from nas.model.arch import ArchConfig
    from nas.model.network import build_model
    from nas.training.recipe import TrainConfig
    from nas.training.threads import set_threads
    from nas.training.trainer import train

    set_threads(1)
    g = torch.Generator().manual_seed(index)
    imgs = torch.randint(0, 256, (images, 3, size, size), dtype=torch.uint8, generator=g)
    kp = size / 8 + size * 0.75 * torch.rand(images, 21, 2, generator=g)
    data = KeypointDataset(imgs, kp, torch.full((images, 21), 2, dtype=torch.uint8))
    val = data.subset(slice(0, min(64, images)))
    torch.empty(1, device=device)  # the CUDA context before the first barrier, not inside a timed round
    for count in sorted(c for c in barriers if c > index):
        model = build_model(ArchConfig(*MODEL, input_size=size), seed=index)
        ends: list[float] = []  # monotonic clock (one for every process of the host) at each epoch's end
        barriers[count].wait()
        result = train(model, data, val, TrainConfig(epochs=epochs, batch_size=batch, device=device, seed=index),
                       on_epoch=lambda _stats, ends=ends: ends.append(time.monotonic()))
        timed = result.history[1:]  # the first epoch holds the warm-up steps and the capture
        per_epoch = images // batch * batch  # the ragged last batch is dropped
        trained, loop_seconds = len(timed) * per_epoch, sum(per_epoch / h.images_per_s for h in timed)
        queue.put((count, {"images_per_s": trained / loop_seconds, "images": trained, "start": ends[0],
                           "end": ends[-1], "compute": result.compute}))


def measure(counts: list[int], args: argparse.Namespace) -> Iterator[tuple[int, list[dict]]]:
    """(count, each process's figure) per round, in rising order of count, as each round ends."""
    ctx = multiprocessing.get_context("spawn")
    barriers, queue = {c: ctx.Barrier(c) for c in counts}, ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(i, barriers, queue, args.device, args.size, args.images, args.epochs,
                                               args.batch), daemon=True) for i in range(max(counts))]
    for p in procs:
        p.start()
    for count in sorted(counts):
        got = [queue.get() for _ in range(count)]
        assert all(c == count for c, _ in got), "rounds overlapped"  # the barriers order them; say so if not
        yield count, [r for _, r in got]
    for p in procs:
        p.join()


def main() -> None:
    ap = doc_parser(__doc__)
    ap.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu (default cuda)")
    ap.add_argument("--counts", default="1,2,4,8", help="worker counts, comma-separated (default 1,2,4,8)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--images", type=int, default=2048, help="images per epoch per worker (default 2048)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per round, at least 2 (default 3)")
    ap.add_argument("--save", action="store_true", help=f"append to {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--out", type=Path, default=None, help="append to this file instead")
    args = ap.parse_args()
    try:
        counts = sorted({int(c) for c in args.counts.split(",")})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        ap.error(f"--counts: expected whole numbers of at least 1 separated by commas, got {args.counts!r}")
    if args.epochs < 2 or args.images < args.batch:
        ap.error(f"--epochs {args.epochs}, --images {args.images}: need 2 epochs or more (the first is not timed) "
                 f"and at least one batch ({args.batch}) of images")
    context = {"bench": "gpu_workers", **run_info("bench/bench_gpu_workers.py"), "device": args.device,
               "size_px": args.size, "batch_size": args.batch, "images_per_epoch": args.images,
               "model": "course report's final model (mobilenetv3_small x1.00 | head 2x1.25)"}
    for count, per in measure(counts, args):
        span = max(p["end"] for p in per) - min(p["start"] for p in per)
        line = {**context, "workers": count, "per_worker_images_per_s": [round(p["images_per_s"], 1) for p in per],
                "combined_images_per_s": round(sum(p["images_per_s"] for p in per), 1),
                "combined_span_images_per_s": round(sum(p["images"] for p in per) / span, 1),
                "timed_epochs": args.epochs - 1, "compute": per[0]["compute"]}
        print(json.dumps({k: v for k, v in line.items() if k not in ("machine", "date", "command")}), flush=True)
        out = args.out or (RESULTS if args.save else None)
        if out is not None:
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
