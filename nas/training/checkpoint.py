"""Training checkpoints: weights + architecture + recipe + data + epoch + optimizer, scheduler and
generator state, written atomically after every epoch so a killed run resumes without loss.

The best-validation weights travel in the same file (`TrainState.result.state_dict`); `export` and
`predict` use those.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import ConfigError
from nas.io import write_bytes_atomic
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.training.recipe import TrainConfig
from nas.training.trainer import TrainState

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "load_trained_model", "FORMAT"]

FORMAT = "handkp-search checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    arch: ArchConfig
    recipe: TrainConfig
    state: TrainState
    data: dict[str, Any] = field(default_factory=dict)  # what the run trains on (source, sizes, seed)
    source: dict[str, Any] = field(default_factory=dict)  # provenance (study, trial), informational

    @property
    def epoch(self) -> int:
        return self.state.epoch

    @property
    def finished(self) -> bool:
        return self.state.epoch >= self.recipe.epochs


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> Path:
    """torch.save, written to a temp file in the same folder then renamed: a kill never leaves half a file."""
    path = Path(path)
    payload = {
        "format": FORMAT, "version": VERSION, "arch": ckpt.arch.to_dict(), "recipe": ckpt.recipe.to_dict(),
        "data": ckpt.data, "source": ckpt.source, "state": ckpt.state.to_dict(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_bytes_atomic(path, buf.getvalue(), fsync=True)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise ConfigError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})"
                          ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a handkp-search checkpoint")
    if payload.get("version") != VERSION:
        raise ConfigError(f"{path}: checkpoint version {payload.get('version')} is not supported (need {VERSION})")
    try:
        return Checkpoint(
            ArchConfig.from_dict(payload["arch"], f"{path}: arch"),
            TrainConfig.from_dict(payload["recipe"], f"{path}: recipe"),
            TrainState.from_dict(payload["state"]),
            payload.get("data") or {},
            payload.get("source") or {},
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: checkpoint is missing or has a bad field ({exc})") from None


def load_trained_model(path: str | Path) -> tuple[nn.Module, Checkpoint]:
    """The model with its best-validation weights, in eval mode on the CPU, and its checkpoint."""
    ckpt = load_checkpoint(path)
    weights = ckpt.state.result.state_dict
    if not weights:
        raise ConfigError(f"{path}: the checkpoint holds no finished epoch yet")
    model = build_model(ckpt.arch, seed=ckpt.recipe.seed)
    model.load_state_dict(weights)
    return model.eval(), ckpt
