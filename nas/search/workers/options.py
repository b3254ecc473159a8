"""One search as it was asked for: built once by the command line, handed to every worker process."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas.data.dataset import KeypointDataset
    from nas.search.space import SearchSpace
    from nas.training.threads import ThreadChoice

__all__ = ["StudyOptions", "load_study_data"]


@dataclass(frozen=True, kw_only=True)
class StudyOptions:
    space_file: Path
    study_name: str
    storage: str
    objective: str = "score"  # score | pareto
    trials: int = 12  # finished trials the study should hold in total, across workers
    timeout: float | None = None  # seconds after which no new trial starts
    data: str | None = None  # 'synthetic' or a dataset path; None: the space's
    fmt: str | None = None  # dataset format; None: the space's
    max_bad: float | None = None  # share of unreadable images tolerated; None: the space's
    seed: int = 0  # training seed; sampler seeds derive from it
    device: str = "auto"
    cache_dir: Path | None = None  # synthetic data cache (None: the default one)
    threads: ThreadChoice | None = None  # threads fixed by the user; None: a share of this host's cores
    repeats: int | None = None  # baselines trained twice to measure the proxy's noise; None: the space's
    proxy: str | None = None  # proxy mode (scratch | supernet); None: the space's `proxy: mode`
    artifacts: Path | None = None  # where shared supernet parents are stored; None: beside the storage

    def repeats_in(self, space: SearchSpace) -> int:
        """The baseline repeats to enqueue: these options' if given, else the space's `search.repeats`."""
        return space.search.repeats if self.repeats is None else self.repeats

    def space_for(self, space: SearchSpace) -> SearchSpace:
        """The space with these options' proxy mode, when one is given."""
        if self.proxy is None:
            return space
        return dataclasses.replace(space, proxy=space.proxy.updated(mode=self.proxy))


def load_study_data(
    options: StudyOptions,
    space: SearchSpace,
    progress: Callable[[int, int], None] | None = None,
    on_format: Callable[[str, int], None] | None = None,
) -> tuple[KeypointDataset, KeypointDataset]:
    """(train, validation) sets of the space's proxy, from the options' data or the space's."""
    from nas.data import DataSpec, load_for_space

    d, p = space.data, space.proxy
    images = p.train_images if p.mode == "scratch" else max(p.train_images, space.supernet.train_images)
    data = DataSpec(source=options.data or d.source, seed=d.seed, format=options.fmt or d.format,
                    max_bad=d.max_bad if options.max_bad is None else options.max_bad)
    return load_for_space(data, images, p.val_images, p.train_size, options.cache_dir, progress,
                          on_format=on_format)
