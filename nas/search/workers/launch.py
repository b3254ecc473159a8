"""A search set up and run in this process: the one entry point the `study` command and every worker
process call. Set-up reads the space (with the options' proxy mode), opens the study with the worker's
sampler seed, places the worker on its GPU and loads the data; running registers the worker in the
study, takes its share of the cores and runs trials until the study holds the target.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.search.workers.options import StudyOptions, load_study_data

if TYPE_CHECKING:
    import optuna

    from nas.data.dataset import KeypointDataset
    from nas.search.hooks import StudyHooks
    from nas.search.space import SearchSpace

__all__ = ["Search", "run_search", "set_up_search", "worker_device"]


@dataclass(frozen=True)
class Search:
    """A search ready to run here: the options (the device this worker's), the space, the study, the data."""

    options: StudyOptions
    space: SearchSpace
    study: optuna.Study
    train: KeypointDataset
    val: KeypointDataset


def worker_device(device: str, index: int | None, gpus: int | None = None) -> str:
    """The device of worker `index`: on a machine with several GPUs, `cuda` (or `auto`) becomes
    `cuda:(index mod GPUs)`, so the workers spread over them; anything else stays as given. The
    worker makes it its current CUDA device (a captured step records on the current device)."""
    if index is None or device not in ("auto", "cuda"):
        return device
    import torch

    gpus = torch.cuda.device_count() if gpus is None else gpus
    if gpus < 2:
        return device
    name = f"cuda:{index % gpus}"
    if torch.cuda.is_available():
        torch.cuda.set_device(name)
    return name


def set_up_search(options: StudyOptions, index: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  on_format: Callable[[str, int], None] | None = None) -> Search:
    """The search `options` ask for, as worker `index` (None: the only one; it seeds the sampler and
    picks the GPU): `progress(done, total)` follows the data loading, `on_format` hears the format found."""
    from nas.search.space import load_space
    from nas.search.study import open_study

    space = options.space_for(load_space(options.space_file))
    options = dataclasses.replace(options, device=worker_device(options.device, index))
    study = open_study(options.study_name, options.storage, options.objective, space, options.seed, index)
    train, val = load_study_data(options, space, progress, on_format)
    return Search(options, space, study, train, val)


def run_search(search: Search, hooks: StudyHooks | None = None, floor: int = 1) -> int:
    """Run the search's trials here, registered in the study with this worker's share of the cores
    (`floor`: the live workers to assume until that many have come); how many trials it ran."""
    from nas.search.workers.runner import run_study
    from nas.search.workers.share import worker_share

    o = search.options
    with worker_share(search.study, o.storage, o.threads, floor) as (share, info):
        if hooks is not None:
            hooks.worker_started(info)
        return run_study(search.study, search.space, search.train, search.val, trials=o.trials, timeout=o.timeout,
                         device=o.device, seed=o.seed, hooks=hooks, storage_url=o.storage, share=share,
                         repeats=o.repeats_in(search.space), artifacts_dir=o.artifacts)
