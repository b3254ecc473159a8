"""Trainer efficiency: proxy-trainer images/s over a bare forward+backward+step loop on pre-loaded
tensors (same model, batch, loss and device), measured side by side in one run.

    .venv/bin/python bench/bench_trainer.py [--size 128] [--images 1024] [--repeats 3]

Prints JSON lines; the figure is `ratio` (goal >= 0.95). Runs alternate trainer / bare loop so
machine noise hits both alike; the median of the repeats is reported.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.data import DataSpec, load_for_space  # noqa: E402
from nas.keypoints.losses import heatmap_loss  # noqa: E402
from nas.model.arch import ArchConfig  # noqa: E402
from nas.model.network import HEATMAP_STRIDE, build_model  # noqa: E402
from nas.training.device import resolve_device
from nas.training.recipe import TrainConfig
from nas.training.trainer import train  # noqa: E402


def bare_loop(arch, data, cfg, device) -> float:
    """Images/s of the plainest loop: tensors already on the device as float, fixed order."""
    model = build_model(arch).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    x = data.images.to(device).float().div(255)
    kp = data.keypoints.to(device)
    w = (data.visibility > 0).float().to(device)
    b = cfg.batch_size
    steps = len(data) // b
    t0 = time.perf_counter()
    for s in range(steps):
        sl = slice(s * b, (s + 1) * b)
        loss = heatmap_loss(cfg.loss, model(x[sl]), kp[sl], w[sl], HEATMAP_STRIDE, cfg.sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * b / (time.perf_counter() - t0)


def trainer(arch, data, val, cfg) -> float:
    model = build_model(arch)
    return train(model, data, val, cfg).images_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbone", default="mobilenetv3_small")
    args = ap.parse_args()
    device = resolve_device(args.device)
    data, val = load_for_space(DataSpec(seed=5), args.images, 32, args.size)
    arch = ArchConfig(args.backbone, 0.75, 2, 0.75, input_size=args.size)
    cfg = TrainConfig(epochs=1, batch_size=32, device=str(device))
    bare_loop(arch, data.subset(slice(0, 64)), cfg, device)  # warm-up (allocator, kernels)
    ours, bare = [], []
    for _ in range(args.repeats):
        ours.append(trainer(arch, data, val, cfg))
        bare.append(bare_loop(arch, data, cfg, device))
    o, b = statistics.median(ours), statistics.median(bare)
    print(json.dumps({"bench": "trainer_efficiency", "device": str(device), "size": args.size, "batch": 32,
                      "model": arch.short(), "trainer_images_per_s": round(o, 1), "bare_images_per_s": round(b, 1),
                      "ratio": round(o / b, 3), "goal": 0.95}))


if __name__ == "__main__":
    main()
