"""What a running study tells whoever watches it (the command line's bars or plain lines)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from nas.model.arch import ArchConfig
    from nas.search.workers.share import ShareInfo
    from nas.training.trainer import EpochStats

__all__ = ["StudyHooks"]


class StudyHooks(Protocol):
    def worker_started(self, info: ShareInfo) -> None: ...
    def status(self, text: str) -> None: ...  # a one-off line on long work (the shared parent's training)
    def trial_started(self, number: int, arch: ArchConfig, baseline: str | None) -> None: ...
    def epoch(self, stats: EpochStats) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def trial_finished(self, trial: FrozenTrial) -> None: ...
