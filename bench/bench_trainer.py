"""Trainer speed against plain training loops, measured side by side in one run on the same data,
model and batch, with the dsnt loss and Adam.

    .venv/bin/python bench/bench_trainer.py --save        # the kept figures -> docs/results/trainer-format.jsonl
    .venv/bin/python bench/bench_trainer.py --device cuda --save   # three models at 224 px, batch 64 and 32
    .venv/bin/python bench/bench_trainer.py --quick       # a smoke run (figures meaningless, never saved)

Arms, each warmed up once, then run in a rotated order every repeat so machine noise hits all alike;
the median of the repeats is reported, per model, input size and batch:
  trainer         `train()` with the default recipe (every choice `auto`: on CUDA bfloat16, channels_last
                  and the captured step), one epoch over the images on the CPU, two on CUDA; its images/s
                  are the last epoch's training loop (validation excluded; on CUDA the first epoch's
                  warm-up steps and capture excluded, as the captured loop's are)
  eager           the plain loop: pre-loaded float tensors, fixed order, forward + loss + backward +
                  Adam step, in the default (contiguous) memory format
  channels_last   the same loop with model and batches in channels_last
  channels_last_ftz  channels_last with denormal floats flushed to zero, as the trainer runs on the CPU
  compiled        channels_last_ftz + torch.compile (--compile; compilation excluded from the timing)
  eager_amp, channels_last_amp   on CUDA only: the two loops in mixed precision (bfloat16, or float16
                  with a gradient scaler on GPUs without it)
  bf16_channels_last_graph   on CUDA with bfloat16 only: channels_last_amp with the whole step (forward,
                  loss, backward, Adam with capturable=True) captured as one CUDA graph and replayed on
                  static batch buffers (3 eager warm-up steps and the capture excluded from the timing)
Evaluation, measured beside them on the same images at the first batch size of each model
(`eval_*_images_per_s`; the trainer's evaluation batch, the model in the trainer's memory format),
since a proxy trial validates too:
  eval            `keypoint_distances()` as the trainer calls it by default: float32 forward, decoding,
                  distances
  eval_graph      on CUDA: the same with the trainer's captured evaluation (`eval_graph: on`,
                  nas/training/graph_eval.py; 3 eager warm-up batches and the capture excluded)
  eval_bf16       `eval` in bfloat16 autocast (CUDA only)
  eval_bf16_graph  on CUDA with bfloat16: `eval_graph` captured in bfloat16 autocast
and `eval_share_estimate`: the share of a gpu.yaml trial at multiplier 1 (its most evaluation per
training image: validation + the within-epoch checks against one pass) that evaluation would take at
this line's images/s, an estimate; `eval_graph_saves_estimate` the share of that trial `eval_graph: on`
would save (`eval_bf16_graph_saves_estimate`: capturing it in bfloat16). They decide the default of
`eval_graph` (off until measured).
The trainer also augments every batch on the device (rotation and flip), which the loops do not
("trainer_extra" in the output); its Adam runs `foreach` (the same arithmetic as the per-parameter
loop the plain loops get by default on the CPU, in fewer calls). Goals: trainer / eager >= 1.2;
trainer / best loop >= 0.95 on the CPU, >= 0.9 on CUDA (printed per model and batch).
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from common.arguments import doc_parser
from common.run_info import run_info

from nas.data import DataSpec, KeypointDataset, load_for_space
from nas.keypoints.losses import heatmap_loss
from nas.model.arch import ArchConfig
from nas.model.network import HEATMAP_STRIDE, build_model
from nas.search.space import load_space
from nas.training.device import (
    amp_dtype,
    flush_denormals,
    grad_scaler,
    resolve_device,
    resolve_recipe,
    to_memory_format,
)
from nas.training.evaluation import graph_predict, keypoint_distances
from nas.training.graph_eval import attached
from nas.training.graph_step import CaptureFailed
from nas.training.recipe import TrainConfig
from nas.training.trainer import train

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "docs" / "results" / "trainer-format.jsonl"
GPU_SPACE = ROOT / "search_spaces" / "gpu.yaml"  # whose trials the evaluation share is estimated for
# model name -> (backbone, width, head depth, head width)
MODELS = {
    "mobilenetv3_small": ("mobilenetv3_small", 0.75, 2, 0.75),
    "mobilenetv2": ("mobilenetv2", 0.75, 2, 0.75),
    "space_cheapest": ("mobilenetv3_small", 0.25, 1, 0.125),  # the default space's cheapest architecture
    "report_final": ("mobilenetv3_small", 1.0, 2, 1.25),  # the course report's final model (reduced V3-small)
    "report_mobilenetv2": ("mobilenetv2", 1.0, 2, 2.0),  # the course report's MobileNetV2 with its full head
}
DEFAULTS = {"cpu": (["mobilenetv3_small", "mobilenetv2"], [64, 128], [32]),  # models, sizes, batches
            "cuda": (["space_cheapest", "report_final", "report_mobilenetv2"], [224], [64, 32])}
GOAL_VS_EAGER, GOAL_VS_BEST = 1.2, {"cpu": 0.95, "cuda": 0.9}
_UNCAPTURED = ".*capturable=True.*without (CUDA|cuda) graph capture"


def plain_loop(arch: ArchConfig, data: KeypointDataset, device: torch.device, fmt: str, batch: int,
               compiled: bool = False, ftz: bool = False, amp: bool = False) -> float:
    """Images/s of the plainest training loop in memory format `fmt` (optionally torch.compile'd,
    optionally with denormals flushed, optionally in mixed precision as the trainer runs on CUDA)."""
    if ftz:
        with flush_denormals(device):
            return plain_loop(arch, data, device, fmt, batch, compiled, amp=amp)
    model = to_memory_format(build_model(arch).to(device).train(), fmt)
    step_model = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), lr=TrainConfig().lr)
    x = to_memory_format(data.images.to(device).float().div(255), fmt)
    kp, w = data.keypoints.to(device), (data.visibility > 0).float().to(device)
    steps, dtype = len(data) // batch, amp_dtype(device)
    scaler = grad_scaler(device, amp)

    def step(s: int) -> None:
        sl = slice(s * batch, (s + 1) * batch)
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
    return steps * batch / (time.perf_counter() - t0)


def graph_loop(arch: ArchConfig, data: KeypointDataset, device: torch.device, batch: int) -> float:
    """Images/s of the plain bfloat16 channels_last loop with its whole step captured as one CUDA
    graph (PyTorch's whole-network capture), replayed on static batch buffers."""
    model = to_memory_format(build_model(arch).to(device).train(), "channels_last")
    opt = torch.optim.Adam(model.parameters(), lr=torch.tensor(TrainConfig().lr, device=device), foreach=True,
                           capturable=True)
    x = to_memory_format(data.images.to(device).float().div(255), "channels_last")
    kp, w = data.keypoints.to(device), (data.visibility > 0).float().to(device)
    static = [x[:batch].clone(), kp[:batch].clone(), w[:batch].clone()]
    graph = _captured_step(model, opt, static)
    steps = len(data) // batch
    _sync(device)
    t0 = time.perf_counter()
    for s in range(steps):
        sl = slice(s * batch, (s + 1) * batch)
        for buf, src in zip(static, (x[sl], kp[sl], w[sl])):
            buf.copy_(src)
        graph.replay()
    _sync(device)
    return steps * batch / (time.perf_counter() - t0)


def _captured_step(model: torch.nn.Module, opt: torch.optim.Optimizer, static: list[torch.Tensor]
                   ) -> torch.cuda.CUDAGraph:
    """Forward (bfloat16 autocast) + loss + backward + Adam step on `static`, warmed up 3 times on a
    side stream, then captured."""
    def body() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
            out = model(static[0])
        heatmap_loss("dsnt", out.float(), static[1], static[2], HEATMAP_STRIDE, 2.0).backward()
        opt.step()

    # gradients dropped before each call, the capture's too: its backward allocates them in the graph's memory
    return _capture(body, before=lambda: opt.zero_grad(set_to_none=True))[0]


def _capture(body: Callable[[], Any], before: Callable[[], None] = lambda: None
             ) -> tuple[torch.cuda.CUDAGraph, Any]:
    """`body` run 3 times on a side stream (kernel choice, Adam's state), then captured as one CUDA
    graph, `before` called ahead of each (outside the capture); the graph and what the captured call
    returned (its static output)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_UNCAPTURED)
        for _ in range(3):
            before()
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    before()
    with torch.cuda.graph(graph):
        out = body()
    return graph, out


def eval_loop(arch: ArchConfig, data: KeypointDataset, device: torch.device, amp: bool = False,
              captured: bool = False) -> float:
    """Images/s of evaluating `data` as the trainer does (its evaluation batch and memory format), in
    float32 or bfloat16 autocast, optionally through the trainer's captured evaluation (`eval_graph: on`,
    captured in the precision it runs in). CaptureFailed when that capture fails."""
    cfg = resolve_recipe(TrainConfig(device=str(device)))
    model = to_memory_format(build_model(arch).to(device).eval(), cfg.memory_format)
    data, b = data.to(device), min(cfg.eval_batch_size, len(data))
    n = len(data) // b * b
    graph = graph_predict(model, "dsnt", b) if captured else None

    def run() -> None:
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp, cache_enabled=False), \
                attached(model, graph):
            keypoint_distances(model, data.subset(slice(0, n)), "dsnt", b)
    run()  # warm-up: kernel choice, allocator
    while captured and graph.graph is None and not graph.note:  # the graph's warm-up batches, its capture
        run()
    if captured and graph.note:
        raise CaptureFailed(graph.note)
    seconds = []
    for _ in range(3):  # the median of three passes: one pass is a fraction of a second on a GPU
        _sync(device)
        t0 = time.perf_counter()
        run()
        _sync(device)
        seconds.append(time.perf_counter() - t0)
    return n / statistics.median(seconds)


def eval_arms(arch: ArchConfig, data: KeypointDataset, device: torch.device) -> dict[str, float]:
    """Evaluation images/s by arm (`eval`, and on CUDA `eval_graph`, `eval_bf16`, `eval_bf16_graph`) on `data`."""
    plans = {"eval": {}}
    if device.type == "cuda":
        plans |= {"eval_graph": {"captured": True}, "eval_bf16": {"amp": True}}
        if amp_dtype(device) == torch.bfloat16:
            plans["eval_bf16_graph"] = {"amp": True, "captured": True}
    arms = {}
    for name, plan in plans.items():
        try:
            arms[name] = eval_loop(arch, data, device, **plan)
        except CaptureFailed as exc:  # the line goes without it; the log says why
            print(f"{name} not measured: {exc}", flush=True)
    return arms


@functools.cache
def _gpu_trial_images() -> tuple[int, int]:
    """Per epoch of a gpu.yaml trial at multiplier 1: images evaluated (validation and the within-epoch
    checks) and images trained."""
    space = load_space(GPU_SPACE)
    proxy, search = space.proxy, space.search
    evaluated = proxy.val_images + (search.checks_per_epoch - 1) * min(search.check_images, proxy.val_images)
    return evaluated, proxy.train_images


def eval_share(trainer_ips: float, evals: dict[str, float]) -> dict[str, float]:
    """The share of a gpu.yaml trial at multiplier 1 that evaluation takes at `evals["eval"]` images/s
    against training at `trainer_ips` (an estimate from this run's figures), and the share of the
    trial that evaluation at each captured arm's speed would save."""
    evaluated, trained = _gpu_trial_images()
    t_eval, t_train = evaluated / evals["eval"], trained / trainer_ips
    out = {"eval_share_estimate": round(t_eval / (t_eval + t_train), 3)}
    for arm in ("eval_graph", "eval_bf16_graph"):
        if arm in evals:
            out[f"{arm}_saves_estimate"] = round((t_eval - evaluated / evals[arm]) / (t_eval + t_train), 3)
    return out


def trainer(arch: ArchConfig, data: KeypointDataset, val: KeypointDataset, device: torch.device, batch: int
            ) -> float:
    """Images/s of the last epoch of `train()` with the default recipe (`_recipe`)."""
    return train(build_model(arch), data, val, _recipe(device, batch)).history[-1].images_per_s


def _recipe(device: torch.device, batch: int) -> TrainConfig:
    """One epoch on the CPU; two on CUDA, so the first epoch's warm-up steps and capture are not timed."""
    return TrainConfig(epochs=1 if device.type == "cpu" else 2, batch_size=batch, device=str(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _arms(arch: ArchConfig, val: KeypointDataset, device: torch.device, batch: int, compiled: bool
          ) -> dict[str, Callable[[KeypointDataset], float]]:
    """The arms measured on `device`, by name: each takes the training images, returns images/s."""
    arms: dict[str, Callable[[KeypointDataset], float]] = {
        "trainer": lambda d: trainer(arch, d, val, device, batch),
        "eager": lambda d: plain_loop(arch, d, device, "contiguous", batch),
        "channels_last": lambda d: plain_loop(arch, d, device, "channels_last", batch),
        "channels_last_ftz": lambda d: plain_loop(arch, d, device, "channels_last", batch, ftz=True),
    }
    if device.type == "cuda":  # the trainer computes in mixed precision there: so do these
        arms["eager_amp"] = lambda d: plain_loop(arch, d, device, "contiguous", batch, amp=True)
        arms["channels_last_amp"] = lambda d: plain_loop(arch, d, device, "channels_last", batch, amp=True)
        if amp_dtype(device) == torch.bfloat16:
            arms["bf16_channels_last_graph"] = lambda d: graph_loop(arch, d, device, batch)
    if compiled:
        arms["compiled"] = lambda d: plain_loop(arch, d, device, "channels_last", batch, compiled=True, ftz=True)
    return arms


def measure(arch: ArchConfig, data: KeypointDataset, val: KeypointDataset, device: torch.device, batch: int,
            repeats: int, compiled: bool, with_evals: bool = True) -> dict:
    """Median images/s per arm over `repeats` rounds, each arm warmed up first and the order rotated
    every round, so neither kernel set-up nor a drift in machine load favours one arm; with `with_evals`,
    the evaluation arms and shares too (they do not depend on the training batch)."""
    arms = _arms(arch, val, device, batch, compiled)
    names, ips = list(arms), {name: [] for name in arms}
    for name in names:
        warm = 5 if name == "trainer" and device.type == "cuda" else 2  # the trainer on CUDA: past its capture
        arms[name](data.subset(slice(0, warm * batch)))
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            ips[name].append(arms[name](data))
    med = {k: statistics.median(v) for k, v in ips.items()}
    best = max((k for k in med if k != "trainer"), key=med.get)
    ran = resolve_recipe(_recipe(device, batch))
    evals = eval_arms(arch, data, device) if with_evals else {}
    return {
        **{f"{k}_images_per_s": round(v, 1) for k, v in {**med, **evals}.items()},
        **(eval_share(med["trainer"], evals) if evals else {}),
        "trainer_memory_format": ran.memory_format, "trainer_amp": ran.amp, "trainer_cuda_graph": ran.cuda_graph,
        "trainer_eval_graph": ran.eval_graph,
        "trainer_extra": "augmentation per batch",
        "trainer_vs_eager": round(med["trainer"] / med["eager"], 3), "goal_vs_eager": GOAL_VS_EAGER,
        "best_loop": best, "trainer_vs_best": round(med["trainer"] / med[best], 3),
        "goal_vs_best": GOAL_VS_BEST[device.type],
    }


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in MODELS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"not a model: {', '.join(unknown) or text!r} (known: {', '.join(MODELS)})")
    return names


def _ints(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of batch sizes >= 2")
    return values


def parse_args() -> argparse.Namespace:
    ap = doc_parser(__doc__)
    ap.add_argument("--models", type=_names, help=f"comma-separated, of {', '.join(MODELS)} (default: on the CPU "
                    f"{','.join(DEFAULTS['cpu'][0])}; on CUDA {','.join(DEFAULTS['cuda'][0])})")
    ap.add_argument("--size", action="append", type=int, help="input side(s) in px (default: 64 and 128 on the "
                    "CPU, 224 on CUDA)")
    ap.add_argument("--batches", type=_ints, help="comma-separated batch sizes (default: 32 on the CPU, 64,32 on CUDA)")
    ap.add_argument("--images", type=int, default=1024, help="training images per epoch (default 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="alternated rounds; the median is reported (default 3)")
    ap.add_argument("--compile", action="store_true",
                    help="add the channels_last + torch.compile loop (a cold compile takes minutes on 2 cores)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    ap.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--out", type=Path, default=None, help="append the lines to this file instead, each as measured")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: the first default model at its smallest size, 128 images, 1 repeat (never saved)")
    args = ap.parse_args()
    if args.quick and (args.save or args.out):
        ap.error("--quick figures are not kept: leave out --save and --out")
    return args


def _plan(args: argparse.Namespace, device: torch.device) -> tuple[list[str], list[int], list[int]]:
    """The models, sizes and batches to measure on `device`: the arguments, else the device's defaults."""
    models, sizes, batches = DEFAULTS["cpu" if device.type == "cpu" else "cuda"]
    if args.quick:
        return (args.models or models)[:1], (args.size or sizes)[:1], (args.batches or batches)[:1]
    return args.models or models, args.size or sizes, args.batches or batches


def _goal_line(line: dict) -> str:
    ok = "meets" if line["trainer_vs_best"] >= line["goal_vs_best"] else "MISSES"
    share, saves = line.get("eval_share_estimate"), line.get("eval_graph_saves_estimate")
    return (f"# {line['model']} {line['size_px']} px batch {line['batch_size']}: trainer / best loop "
            f"({line['best_loop']}) = {line['trainer_vs_best']} {ok} the goal >= {line['goal_vs_best']}"
            + (f"; evaluation ~{share:.0%} of a gpu.yaml trial at multiplier 1 (estimate)" if share is not None else "")
            + (f", eval_graph: on would save ~{saves:.0%}" if saves is not None else ""))


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    models, sizes, batches = _plan(args, device)
    images, repeats = (128, 1) if args.quick else (args.images, args.repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    context = {"bench": "trainer_format", **run_info("bench/bench_trainer.py"), "device": str(device),
               "device_name": name}
    out = args.out or (RESULTS if args.save else None)
    for size in sizes:
        data, val = load_for_space(DataSpec(seed=5), images, max(batches), size)
        for batch in batches:  # every model at the first batch size before the next: the goal's figures first
            for model in models:
                arch = ArchConfig(*MODELS[model], input_size=size)
                sizes_ = {"model": arch.short(), "model_name": model, "size_px": size, "batch_size": batch,
                          "images": images, "repeats": repeats}
                line = {**context, **sizes_,
                        **measure(arch, data, val, device, batch, repeats, args.compile,
                                  with_evals=batch == batches[0])}
                print(json.dumps(line), flush=True)
                print(_goal_line(line), flush=True)
                if out is not None:  # each line as it is measured: a run cut short keeps the earlier ones
                    with out.open("a") as f:
                        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
