"""Validation-error curves (px per epoch) of architectures trained from scratch on the built-in
synthetic hands: the learnability check of the synthetic set.

    .venv/bin/python bench/curves.py --size 128 --images 8000 --epochs 5 \
        --arch mobilenetv3_small:0.35:1:1.0 --arch mobilenetv2:1.0:4:1.0

Each --arch is backbone:backbone_width:head_depth:head_width. Prints one JSON line per epoch and
one per model with the whole curve, plus the chance level (EPE of predicting the mean training
pose) for comparison.
"""
from __future__ import annotations

import argparse
import json
import time

import yaml

from nas.data import DataSpec, load_for_space
from nas.data.synth import SynthConfig
from nas.keypoints.metrics import mean_pose_error
from nas.model.arch import ArchConfig
from nas.search.proxy.scratch import evaluate_candidate
from nas.training.recipe import TrainConfig


def _pose(data) -> tuple:
    return data.keypoints, data.visibility


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--size", type=int, default=128, help="input size in pixels (default 128)")
    ap.add_argument("--images", type=int, default=8000, help="training images (default 8000)")
    ap.add_argument("--val-images", type=int, default=1000, help="validation images (default 1000)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs (default 5)")
    ap.add_argument("--arch", action="append", required=True, metavar="BACKBONE:WIDTH:DEPTH:HEAD_WIDTH",
                    help="an architecture, e.g. mobilenetv3_small:0.35:1:1.0 (repeat for several)")
    ap.add_argument("--loss", default="dsnt", help="dsnt, integral or mse (default dsnt)")
    ap.add_argument("--lr", type=float, default=4e-3, help="initial learning rate (default 4e-3)")
    ap.add_argument("--lr-min", type=float, default=1e-4, help="final learning rate of the cosine (default 1e-4)")
    ap.add_argument("--rotation", type=float, default=180.0, help="random rotation range in +- degrees (default 180)")
    ap.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    ap.add_argument("--aug", type=int, default=1, help="augmentation multiplier: passes over the images per epoch")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    ap.add_argument("--synth", action="append", default=[], metavar="KEY=VALUE",
                    help="override a SynthConfig field (YAML value), e.g. occluder_prob=0.1")
    args = ap.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.synth)}
    synth = SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
    train, val = load_for_space(DataSpec(), args.images, args.val_images, args.size, synth=synth)
    print(json.dumps({"bench": "chance", "size": args.size, "synth": overrides,
                      "mean_pose_px": round(mean_pose_error(*_pose(train), *_pose(val)), 2)}), flush=True)
    for spec in args.arch:
        b, bw, hd, hw = spec.split(":")
        arch = ArchConfig(b, float(bw), int(hd), float(hw), input_size=args.size)
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_min=args.lr_min,
                          loss=args.loss, rotation=args.rotation, device=args.device,
                          aug_multiplier=args.aug)
        t0 = time.perf_counter()

        def log(s, arch=arch):
            print(json.dumps({"bench": "epoch", "model": arch.short(), "epoch": s.epoch, "px": round(s.px_error, 2),
                              "pck": round(s.pck, 3), "loss": round(s.train_loss, 4),
                              "images_per_s": round(s.images_per_s, 1)}), flush=True)

        r = evaluate_candidate(arch, cfg, train, val, on_epoch=log)
        print(json.dumps({"bench": "curve", "model": arch.short(), "size": args.size, "loss": args.loss,
                          "batch_size": args.batch_size, "aug": args.aug,
                          "px_per_epoch": [round(h.px_error, 2) for h in r.training.history],
                          "final_px": round(r.training.history[-1].px_error, 2),
                          "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
