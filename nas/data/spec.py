"""`DataSpec`: which images a run trains on. A search space's `data:` section, a full retrain and
the loaders all use it; a retrain checkpoint stores it, so a resume on other data is refused."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nas.config import FieldError, bounds, check_fields, choices

__all__ = ["DataSpec", "SYNTHETIC", "FORMATS", "WHERE_FIELDS"]

SYNTHETIC = "synthetic"
FORMATS = ("auto", "csv", "freihand", "coco", "panoptic")
WHERE_FIELDS = ("source", "seed", "format", "max_bad")  # the fields a search space's `data:` section sets
_COUNT = bounds(2, 10_000_000)


@dataclass(frozen=True)
class DataSpec:
    """Source and seeded split; the counts are those a full training loads (`load_splits`)."""

    source: str = SYNTHETIC  # "synthetic" (the built-in renderer) or a dataset path
    seed: int = field(default=0, metadata=bounds(0, 2**31 - 1))
    format: str = field(default="auto", metadata=choices(FORMATS))  # for a dataset path
    max_bad: float = field(default=0.01, metadata=bounds(0.0, 0.99))  # unreadable share tolerated (skipped, listed)
    train_images: int = field(default=20000, metadata=_COUNT)
    val_images: int = field(default=2000, metadata=_COUNT)
    test_images: int = field(default=2000, metadata=_COUNT)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.source:
            raise FieldError("source", "expected 'synthetic' or a dataset path")

    @property
    def synthetic(self) -> bool:
        return self.source == SYNTHETIC

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def where(self) -> dict[str, Any]:
        """The source fields alone (a search space's `data:` section; its counts come from `proxy:`)."""
        return {k: getattr(self, k) for k in WHERE_FIELDS}
