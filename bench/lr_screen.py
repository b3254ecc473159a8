"""Learning-rate screen for the full-retrain recipe, from scratch: which Adam lr trains the course
report's final model and a small model best in a short run, through the real training path.

    .venv/bin/python bench/lr_screen.py            # 2 archs x 4 lrs, 5 epochs: ~10-20 min on one core
    .venv/bin/python bench/lr_screen.py --quick    # 1 epoch, a pipeline smoke

Each run trains on 4,000 synthetic 64 px images (aug 1, batch 32, seed 0, one CPU thread) with a
half cosine lr -> lr/20 and is printed and appended as one JSON line to docs/results/lr-screen.jsonl
(errors are validation pixel errors at 64 px on 500 images: the final epoch's and the best epoch's).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common.run_info import run_info

from nas.data import load_for_space
from nas.data.spec import DataSpec
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.training.recipe import TrainConfig
from nas.training.trainer import train

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "docs" / "results" / "lr-screen.jsonl"
LRS = (5e-4, 1e-3, 2e-3, 4e-3)
LR_MIN_RATIO = 20  # the cosine ends at lr / 20, so every lr gets the same schedule shape
ARCHS = {
    "report_final": ArchConfig("mobilenetv3_small", 1.0, 2, 1.25, input_size=64),  # the course report's model
    "small": ArchConfig("mobilenetv3_small", 0.35, 1, 1.0, input_size=64),
}
SIZE, TRAIN_IMAGES, VAL_IMAGES, BATCH, AUG, SEED = 64, 4000, 500, 32, 1, 0


def run_one(name: str, arch: ArchConfig, lr: float, epochs: int, data, val,
            run: dict[str, object]) -> dict[str, object]:
    """Train `arch` from scratch at `lr` and return the JSON record of the run (`run`: date, machine, commit,
    command, shared by every line of one invocation)."""
    recipe = TrainConfig(epochs=epochs, batch_size=BATCH, lr=lr, lr_min=lr / LR_MIN_RATIO, aug_multiplier=AUG,
                         seed=SEED, device="cpu")
    t0 = time.perf_counter()
    result = train(build_model(arch, seed=SEED), data, val, recipe)
    return {
        "bench": "lr_screen", **run,
        "size": SIZE, "train_images": len(data), "val_images": len(val), "epochs": epochs, "batch_size": BATCH,
        "aug_multiplier": AUG, "seed": SEED, "arch_name": name, "arch": arch.to_dict(),
        "lr": lr, "lr_min": recipe.lr_min, "final_val_px": round(result.history[-1].px_error, 3),
        "best_val_px": round(result.px_error, 3), "best_epoch": result.best_epoch,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 epoch on 256/64 images: a smoke, its figures mean nothing")
    ap.add_argument("--out", type=Path, default=OUT,
                    help=f"JSON lines appended here (default: {OUT.relative_to(ROOT)})")
    args = ap.parse_args()
    torch.set_num_threads(1)
    epochs, n_train, n_val = (1, 256, 64) if args.quick else (5, TRAIN_IMAGES, VAL_IMAGES)
    data, val = load_for_space(DataSpec(seed=SEED), n_train, n_val, SIZE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    run = run_info("bench/lr_screen.py")
    for name, arch in ARCHS.items():
        for lr in LRS:
            record = run_one(name, arch, lr, epochs, data, val, run)
            print(json.dumps(record), flush=True)
            if not args.quick:
                with args.out.open("a") as f:
                    f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
