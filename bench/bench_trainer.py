"""Trainer speed against plain training loops, measured side by side in one run on the same data,
model and batch (32), with the dsnt loss and Adam.

    .venv/bin/python bench/bench_trainer.py --save        # the kept figures -> docs/results/trainer-format.jsonl
    .venv/bin/python bench/bench_trainer.py --quick       # a smoke run (figures meaningless, never saved)

Arms, each warmed up once, then run in a rotated order every repeat so machine noise hits all alike;
the median of the repeats is reported, per model and input size:
  trainer         `train()` with the default recipe (memory format `auto`), one epoch over the images;
                  its images/s count the training loop only (validation excluded)
  eager           the plain loop: pre-loaded float tensors, fixed order, forward + loss + backward +
                  Adam step, in the default (contiguous) memory format
  channels_last   the same loop with model and batches in channels_last
  channels_last_ftz  channels_last with denormal floats flushed to zero, as the trainer runs on the CPU
  compiled        channels_last_ftz + torch.compile (--compile; compilation excluded from the timing)
  eager_amp, channels_last_amp   on CUDA only: the two loops in mixed precision (bfloat16, or float16
                  with a gradient scaler on GPUs without it), as the trainer computes there; their ratio
                  is the memory-format choice `auto` makes for CUDA with amp
The trainer also augments every batch on the device (rotation and flip), which the loops do not
("trainer_extra" in the output); its Adam runs `foreach` (the same arithmetic as the per-parameter
loop the plain loops get by default on the CPU, in fewer calls). Goals: trainer / eager >= 1.2;
trainer / best loop >= 0.95.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from run_info import run_info  # noqa: E402

from nas.data import DataSpec, KeypointDataset, load_for_space  # noqa: E402
from nas.keypoints.losses import heatmap_loss  # noqa: E402
from nas.model.arch import ArchConfig  # noqa: E402
from nas.model.network import HEATMAP_STRIDE, build_model  # noqa: E402
from nas.training.device import (  # noqa: E402
    amp_dtype,
    flush_denormals,
    grad_scaler,
    resolve_device,
    resolve_recipe,
    to_memory_format,
)
from nas.training.recipe import TrainConfig  # noqa: E402
from nas.training.trainer import train  # noqa: E402

RESULTS = ROOT / "docs" / "results" / "trainer-format.jsonl"
BACKBONES = {"mobilenetv3_small": (0.75, 2, 0.75), "mobilenetv2": (0.75, 2, 0.75)}  # width, head depth x width
BATCH = 32
GOAL_VS_EAGER, GOAL_VS_BEST = 1.2, 0.95


def plain_loop(arch: ArchConfig, data: KeypointDataset, device: torch.device, fmt: str,
               compiled: bool = False, ftz: bool = False, amp: bool = False) -> float:
    """Images/s of the plainest training loop in memory format `fmt` (optionally torch.compile'd,
    optionally with denormals flushed, optionally in mixed precision as the trainer runs on CUDA)."""
    if ftz:
        with flush_denormals(device):
            return plain_loop(arch, data, device, fmt, compiled, amp=amp)
    model = to_memory_format(build_model(arch).to(device).train(), fmt)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=TrainConfig().lr)
    x = to_memory_format(data.images.to(device).float().div(255), fmt)
    kp, w = data.keypoints.to(device), (data.visibility > 0).float().to(device)
    steps, dtype = len(data) // BATCH, amp_dtype(device)
    scaler = grad_scaler(device, amp)

    def step(s: int) -> None:
        sl = slice(s * BATCH, (s + 1) * BATCH)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = step_model(x[sl])
        loss = heatmap_loss("dsnt", out.float(), kp[sl], w[sl], HEATMAP_STRIDE, 2.0)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    if compiled:  # compile (forward and backward graphs) before the clock starts
        step(0)
    _sync(device)
    t0 = time.perf_counter()
    for s in range(steps):
        step(s)
    _sync(device)
    return steps * BATCH / (time.perf_counter() - t0)


def trainer(arch: ArchConfig, data: KeypointDataset, val: KeypointDataset, device: torch.device) -> float:
    """Images/s of one epoch of `train()` with the default recipe."""
    return train(build_model(arch), data, val, _recipe(device)).images_per_s


def _recipe(device: torch.device) -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=BATCH, device=str(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(arch: ArchConfig, data: KeypointDataset, val: KeypointDataset, device: torch.device, repeats: int,
            compiled: bool) -> dict:
    """Median images/s per arm over `repeats` rounds, each arm warmed up first and the order rotated
    every round, so neither kernel set-up nor a drift in machine load favours one arm."""
    arms: dict[str, Callable[[KeypointDataset], float]] = {
        "trainer": lambda d: trainer(arch, d, val, device),
        "eager": lambda d: plain_loop(arch, d, device, "contiguous"),
        "channels_last": lambda d: plain_loop(arch, d, device, "channels_last"),
        "channels_last_ftz": lambda d: plain_loop(arch, d, device, "channels_last", ftz=True),
    }
    if device.type == "cuda":  # the trainer computes in mixed precision there: so do these two
        arms["eager_amp"] = lambda d: plain_loop(arch, d, device, "contiguous", amp=True)
        arms["channels_last_amp"] = lambda d: plain_loop(arch, d, device, "channels_last", amp=True)
    if compiled:
        arms["compiled"] = lambda d: plain_loop(arch, d, device, "channels_last", compiled=True, ftz=True)
    names, ips = list(arms), {name: [] for name in arms}
    for name in names:
        arms[name](data.subset(slice(0, 2 * BATCH)))
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            ips[name].append(arms[name](data))
    med = {k: statistics.median(v) for k, v in ips.items()}
    best = max((k for k in med if k != "trainer"), key=med.get)
    return {
        **{f"{k}_images_per_s": round(v, 1) for k, v in med.items()},
        "trainer_memory_format": resolve_recipe(_recipe(device)).memory_format,
        "trainer_extra": "augmentation per batch",
        "trainer_vs_eager": round(med["trainer"] / med["eager"], 3), "goal_vs_eager": GOAL_VS_EAGER,
        "best_loop": best, "trainer_vs_best": round(med["trainer"] / med[best], 3), "goal_vs_best": GOAL_VS_BEST,
    }


def parse_args() -> argparse.Namespace:
    intro, rest = __doc__.split("\n\n", 1)
    ap = argparse.ArgumentParser(description=intro.replace("\n", " "), epilog=rest,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", action="append", choices=sorted(BACKBONES),
                    help="model(s) to measure, each at width 0.75 with a 2 x 0.75 head (default: both)")
    ap.add_argument("--size", action="append", type=int, help="input side(s) in px (default: 64 and 128)")
    ap.add_argument("--images", type=int, default=1024, help="training images per epoch (default 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="alternated rounds; the median is reported (default 3)")
    ap.add_argument("--compile", action="store_true",
                    help="add the channels_last + torch.compile loop (a cold compile takes minutes on 2 cores)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    ap.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: V3-small at 64 px, 128 images, 1 repeat (never saved)")
    args = ap.parse_args()
    if args.quick and args.save:
        ap.error("--quick figures are not kept: leave out --save")
    if args.quick:
        args.backbone, args.size, args.images, args.repeats = ["mobilenetv3_small"], [64], 128, 1
    args.backbone = args.backbone or list(BACKBONES)
    args.size = args.size or [64, 128]
    return args


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    context = {"bench": "trainer_format", **run_info("bench/bench_trainer.py"), "device": str(device)}
    lines = []
    for size in args.size:
        data, val = load_for_space(DataSpec(seed=5), args.images, BATCH, size)
        for backbone in args.backbone:
            width, depth, head = BACKBONES[backbone]
            arch = ArchConfig(backbone, width, depth, head, input_size=size)
            sizes = {"model": arch.short(), "size_px": size, "batch_size": BATCH, "images": args.images,
                     "repeats": args.repeats}
            lines.append({**context, **sizes, **measure(arch, data, val, device, args.repeats, args.compile)})
            print(json.dumps(lines[-1]), flush=True)
    if args.save:
        with RESULTS.open("a") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)


if __name__ == "__main__":
    main()
