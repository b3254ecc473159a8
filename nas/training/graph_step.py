"""One training step (forward and loss, backward, optimizer and scheduler step) behind one interface,
`step(images, keypoints, visibility) -> loss`, run eagerly (`EagerStep`) or replayed as one captured
CUDA graph (`GraphStep`, PyTorch's whole-network capture).

A captured step reads its batch from static input buffers, which each call fills with `copy_`; Adam
must be `capturable` (its step counts live on the GPU) and reads its learning rate from one 0-dim
tensor per parameter group, which each call fills from the group's float `lr` before the replay. The
scheduler keeps stepping the float on the host as in an eager run (PyTorch's schedulers would step a
tensor `lr` in float32 on the GPU), so both kinds of run follow the same schedule and save the same
kind of optimizer state.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch

__all__ = ["EagerStep", "GraphStep", "CaptureFailed", "place_steps", "WARMUP_STEPS"]

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
WARMUP_STEPS = 3  # eager steps on a side stream before the capture, as PyTorch's CUDA graph notes do
# what Adam(capturable=True) says once when it steps outside a capture (the warm-up steps do)
_UNCAPTURED = ".*capturable=True.*without (CUDA|cuda) graph capture"


class CaptureFailed(RuntimeError):
    """The step could not be captured; the model and optimizer are as before the attempt, the batch untrained."""

    @classmethod
    def of(cls, exc: Exception) -> CaptureFailed:
        """The error's type and its first line (torch's capture errors run to many)."""
        text = str(exc).strip()
        return cls(f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}")


class EagerStep:
    """The step run eagerly: forward and loss (`loss_fn`), backward through the gradient scaler (which
    does nothing unless float16 mixed precision runs), Adam, the scheduler."""

    def __init__(self, loss_fn: LossFn, opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler,
                 scaler: torch.amp.GradScaler) -> None:
        self.loss_fn, self.opt, self.sched, self.scaler = loss_fn, opt, sched, scaler

    def __call__(self, images: torch.Tensor, keypoints: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fn(images, keypoints, vis)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return loss.detach()


class GraphStep:
    """The step as one CUDA graph: the first `warmup` calls train eagerly on a side stream (real steps
    on their batches), the next captures the step and every call from then on copies its batch into
    the static buffers and replays the graph. The returned loss is the graph's static output: read
    it (or add it somewhere) before the next call overwrites it.

    The optimizer must be Adam-like with `capturable=True`; gradients must not be touched between
    calls (the graph writes them in place); parameters and buffers are updated in place, so eager
    evaluation between calls and `load_state_dict` work on the same tensors.
    """

    def __init__(self, loss_fn: LossFn, opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler,
                 warmup: int = WARMUP_STEPS) -> None:
        self.loss_fn, self.opt, self.sched, self.warmup = loss_fn, opt, sched, warmup
        device = opt.param_groups[0]["params"][0].device
        self.lrs = [torch.tensor(float(g["lr"]), device=device) for g in opt.param_groups]
        self.side = torch.cuda.Stream(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: list[torch.Tensor] = []
        self.loss = torch.zeros((), device=device)

    def __call__(self, images: torch.Tensor, keypoints: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        batch = (images, keypoints, vis)
        if self.graph is None:
            if self.warmup > 0:
                self.warmup -= 1
                return self._warm_up(batch)
            self._capture(batch)
        for buf, x in zip(self.static, batch, strict=True):
            buf.copy_(x)
        for lr, group in zip(self.lrs, self.opt.param_groups, strict=True):
            lr.fill_(group["lr"])
        self.graph.replay()
        self.sched.step()
        return self.loss

    def _body(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        loss = self.loss_fn(*batch)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def _warm_up(self, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        """One eager step on the side stream (cuDNN and cuBLAS set up, Adam's state created), ordered
        after the batch's preparation and before whatever the caller does next."""
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_UNCAPTURED)
            self.opt.zero_grad(set_to_none=True)
            loss = self._body(batch)
        torch.cuda.current_stream().wait_stream(self.side)
        self.sched.step()
        return loss

    def _capture(self, batch: Sequence[torch.Tensor]) -> None:
        """Record one step on static copies of `batch` (nothing runs); CaptureFailed when it cannot be."""
        static = [x.clone() for x in batch]  # clone keeps the batch's memory format
        self.opt.zero_grad(set_to_none=True)  # backward allocates the gradients in the graph's memory
        graph = torch.cuda.CUDAGraph()
        try:
            with self._tensor_lrs(), torch.cuda.graph(graph):
                loss = self._body(static)
        except Exception as exc:  # torch raises RuntimeError, AssertionError, ... for ops it cannot capture
            self.opt.zero_grad(set_to_none=True)
            raise CaptureFailed.of(exc) from exc
        self.graph, self.static, self.loss = graph, static, loss

    @contextlib.contextmanager
    def _tensor_lrs(self) -> Iterator[None]:
        """The parameter groups' `lr` as the 0-dim tensors while the step is recorded, so the graph reads
        them on every replay; the floats the scheduler steps afterwards."""
        floats = [g["lr"] for g in self.opt.param_groups]
        for g, lr in zip(self.opt.param_groups, self.lrs, strict=True):
            lr.fill_(float(g["lr"]))
            g["lr"] = lr
        try:
            yield
        finally:
            for g, value in zip(self.opt.param_groups, floats, strict=True):
                g["lr"] = value


def place_steps(opt: torch.optim.Optimizer, capturable: bool) -> None:
    """Make `opt` (Adam) `capturable` or not, with its per-parameter step counts where that kind of
    update reads them: on the parameter's device for a captured step, on the CPU otherwise (PyTorch's
    default there: no read-back from the GPU each step). Loading a state dict takes the saved groups'
    flag and placement, so a run resumed from a state saved by the other kind of run calls this."""
    for group in opt.param_groups:
        group["capturable"] = capturable
        for p in group["params"]:
            state = opt.state.get(p)
            if state and isinstance(state.get("step"), torch.Tensor):
                state["step"] = state["step"].to(p.device if capturable else "cpu")
