"""Weight-sharing proxies: one parent per backbone of a study, trained once, shared by every worker;
each candidate is sliced out of it, its BatchNorm recalibrated, optionally fine-tuned, and validated.

The parent of a backbone is the space's largest architecture of it (widest backbone, deepest and
widest head), widened to hold the course report's baselines the study enqueues. It is stored once
per (space, data, seed) through Optuna's artifact store: a file-system store beside the storage by
default (`artifacts_dir`), any folder every worker can read for workers on several machines. The
first worker to need it trains it under a storage-wide lock while the others wait on that lock;
after every epoch it writes a checkpoint (temp file, then rename), so a worker killed during
training leaves one the next worker resumes from. The artifact is uploaded only when training
finished, and its id is recorded on the study after that, so a half-written parent is never used.
A changed space, data or seed gives another key: a new parent.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact

from nas.data.dataset import KeypointDataset
from nas.errors import ConfigError
from nas.io import atomic_path
from nas.model.arch import ArchConfig
from nas.model.network import build_model
from nas.model.slicing import child_model
from nas.search.baselines import SEED_BASELINES
from nas.search.space import FloatRange, SearchSpace
from nas.search.workers.storage import JOURNAL_PREFIX, storage_lock
from nas.training.device import resolve_device, resolve_memory_format, to_memory_format
from nas.training.recipe import TrainConfig
from nas.training.supernet import SupernetState, epoch_steps, recalibrate_bn, train_supernet

__all__ = ["ATTR_PREFIX", "parent_arch", "smallest_arch", "children_sampler", "parent_key", "parent_recipe",
           "parent_steps", "SharedParent",
           "ParentStore", "default_artifacts_dir"]

ATTR_PREFIX = "supernet:"  # study user attribute per parent: artifact id, training time, epochs


def _grid(r: FloatRange) -> list[float]:
    if not r.step:
        return [r.low, r.high]
    n = int(round((r.high - r.low) / r.step))
    return [round(r.low + i * r.step, 6) for i in range(n + 1)]


def parent_arch(space: SearchSpace, backbone: str) -> ArchConfig:
    """The space's largest architecture of `backbone`, widened where needed to hold the course report's
    baselines of that backbone too (a study enqueues them, and they may lie outside a narrowed space)."""
    c = space.choices
    bases = [b for b in SEED_BASELINES.values() if b["backbone"] == backbone]
    return ArchConfig(backbone, max([c.backbone_width.high, *(b["backbone_width"] for b in bases)]),
                      max([c.head_depth.high, *(b["head_depth"] for b in bases)]),
                      max([c.head_width.high, *(b["head_width"] for b in bases)]), input_size=space.proxy.train_size)


def smallest_arch(space: SearchSpace, backbone: str) -> ArchConfig:
    c = space.choices
    return ArchConfig(backbone, c.backbone_width.low, c.head_depth.low, c.head_width.low,
                      input_size=space.proxy.train_size)


def children_sampler(space: SearchSpace, backbone: str, random_children: int):
    """The sandwich of one step: the largest, the smallest and `random_children` uniform draws from the
    space's grid (at the proxy's resolution)."""
    c, largest, smallest = space.choices, parent_arch(space, backbone), smallest_arch(space, backbone)
    widths, heads = _grid(c.backbone_width), _grid(c.head_width)

    def sample(rng: random.Random) -> list[ArchConfig]:
        drawn = [ArchConfig(backbone, rng.choice(widths), rng.randint(c.head_depth.low, c.head_depth.high),
                            rng.choice(heads), input_size=space.proxy.train_size) for _ in range(random_children)]
        return [largest, smallest, *drawn]

    return sample


def parent_key(space: SearchSpace, backbone: str, seed: int) -> str:
    """What the parent depends on: its architecture, the supernet budget, the proxy's resolution and
    augmentation, the data and the seed (a change in any of them trains a new parent)."""
    p = space.proxy
    what = {"parent": parent_arch(space, backbone).to_dict(), "supernet": dataclasses.asdict(space.supernet),
            "proxy": {k: v for k, v in p.to_dict().items() if k in ("train_size", "rotation", "loss", "sigma")},
            "data": space.data.where(), "seed": seed, "format": 2}
    return f"{backbone}-" + hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def default_artifacts_dir(storage_url: str | None) -> Path:
    """Beside a file storage (`<file>.artifacts/`), else `reports/artifacts`."""
    for prefix in ("sqlite:///", JOURNAL_PREFIX):
        if storage_url and storage_url.startswith(prefix):
            path = Path(storage_url[len(prefix):])
            return path.with_name(path.name + ".artifacts")
    return Path("reports") / "artifacts"


def parent_recipe(space: SearchSpace, device: str, seed: int) -> TrainConfig:
    """The parent's training recipe: the proxy's (loss, augmentation, resolution) with the supernet
    budget's batch and learning rates; its length is `parent_steps`."""
    s, p = space.supernet, space.proxy.recipe
    return dataclasses.replace(p, epochs=max(1, math.ceil(s.epochs)), batch_size=s.batch_size, lr=s.lr,
                               lr_min=s.lr_min, aug_multiplier=1, device=device, seed=seed)


def parent_steps(space: SearchSpace, images: int) -> int:
    """Optimizer steps of the parent: `supernet.epochs` (fractional allowed) over `images` images."""
    return epoch_steps(parent_recipe(space, "cpu", 0), images, space.supernet.epochs)


@dataclass
class SharedParent:
    """A trained parent on this worker's device, with what its training cost."""

    model: torch.nn.Module
    key: str
    seconds: float
    memory_format: str


class ParentStore:
    """Finds, trains (once, under the lock) and loads the parents of one study."""

    def __init__(self, study: optuna.Study, storage_url: str | None, artifacts_dir: Path | None = None) -> None:
        self.study, self.url = study, storage_url
        self.dir = Path(artifacts_dir or default_artifacts_dir(storage_url))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.store = FileSystemArtifactStore(str(self.dir))

    def _recorded(self, key: str) -> dict[str, Any] | None:
        attrs = optuna.load_study(study_name=self.study.study_name, storage=self.study._storage).user_attrs
        return attrs.get(ATTR_PREFIX + key)

    def get(self, space: SearchSpace, backbone: str, data: KeypointDataset, device: str, seed: int,
            on_status=None) -> SharedParent:
        key = parent_key(space, backbone, seed)
        lock = storage_lock(self.url, f"supernet:{key}") if self.url else contextlib.nullcontext()
        with lock:
            record = self._recorded(key)
            if record is None:  # this worker trains it: no need to read back what it holds
                return self._train(space, backbone, data, device, seed, key, on_status)
        return self._load(space, backbone, device, key, record)

    def _train(self, space, backbone, data, device, seed, key, on_status) -> SharedParent:
        dev = resolve_device(device)
        recipe = parent_recipe(space, str(dev), seed)
        fmt = _memory_format(recipe, dev)
        parent = to_memory_format(build_model(parent_arch(space, backbone), seed=seed).to(dev), fmt)
        ckpt = self.dir / f"{key}.partial.pt"
        resume = SupernetState.from_dict(torch.load(ckpt, weights_only=False)) if ckpt.is_file() else None
        images = data.subset(slice(0, min(space.supernet.train_images, len(data)))).to(dev)
        steps = parent_steps(space, len(images))
        if on_status:
            on_status(f"training the shared {backbone} parent ({steps} steps"
                      + (f", resumed after step {resume.steps})" if resume else ")"))

        def checkpoint(state: SupernetState) -> None:  # after every epoch: resumable, and a progress line
            _save(ckpt, state.to_dict())
            if on_status:
                on_status(f"{backbone} parent: step {state.steps}/{steps} ({state.seconds:.0f} s)")

        t0 = time.perf_counter()
        result = train_supernet(parent, images, recipe, children_sampler(space, backbone,
                                space.supernet.children_per_step), space.supernet.distill, fmt, resume,
                                on_state=checkpoint, steps=steps)
        record = self._publish(key, parent.state_dict(), {
            "backbone": backbone, "epochs": round(result.epochs, 3), "steps": result.steps,
            "seconds": round(result.seconds, 1), "wall_seconds": round(time.perf_counter() - t0, 1),
            "images": len(images), "loss": result.losses[-1] if result.losses else None})
        ckpt.unlink(missing_ok=True)
        return SharedParent(parent.eval(), key, record["seconds"], fmt)

    def adopt(self, space: SearchSpace, backbone: str, seed: int, state: dict[str, torch.Tensor],
              record: dict[str, Any]) -> str:
        """Store a parent trained elsewhere (a benchmark's) as this study's parent of `backbone`, with
        `record` saying where it came from and what it cost: trials load it instead of training one.
        Returns its key."""
        key = parent_key(space, backbone, seed)
        try:
            build_model(parent_arch(space, backbone), seed=None).load_state_dict(state)
        except RuntimeError as e:
            raise ConfigError(f"the weights given are not the space's {backbone} parent: {str(e)[:200]}") from None
        self._publish(key, state, {"backbone": backbone, "seconds": None, **record})
        return key

    def _publish(self, key: str, state: dict[str, torch.Tensor], record: dict[str, Any]) -> dict[str, Any]:
        """The weights uploaded as an artifact, then recorded in the study (never half-written)."""
        final = self.dir / f"{key}.pt"
        _save(final, {k: v.detach().cpu() for k, v in state.items()})
        artifact = upload_artifact(artifact_store=self.store, file_path=str(final), study_or_trial=self.study)
        record = {"artifact_id": artifact, **record}
        self.study.set_user_attr(ATTR_PREFIX + key, record)
        final.unlink(missing_ok=True)
        return record

    def download(self, record: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A stored parent's state dict (on the CPU)."""
        with tempfile.TemporaryDirectory(dir=self.dir, prefix=".download-") as folder:
            path = Path(folder) / "parent.pt"
            try:
                download_artifact(artifact_store=self.store, artifact_id=record["artifact_id"], file_path=str(path))
            except FileNotFoundError:
                raise ConfigError(f"the shared parent {record['artifact_id']} is not in {self.dir}: pass the "
                                  "artifacts folder the study's workers used (--artifacts)") from None
            return torch.load(path, map_location="cpu", weights_only=True)

    def _load(self, space, backbone, device, key, record) -> SharedParent:
        dev = resolve_device(device)
        fmt = _memory_format(parent_recipe(space, str(dev), 0), dev)  # the layout the training worker used
        model = build_model(parent_arch(space, backbone), seed=None)
        model.load_state_dict(self.download(record))
        return SharedParent(to_memory_format(model.to(dev), fmt).eval(), key, record["seconds"], fmt)


def _memory_format(recipe: TrainConfig, dev: torch.device) -> str:
    return resolve_memory_format(recipe.memory_format, dev)


def _save(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def child_for(parent: SharedParent, arch: ArchConfig, train: KeypointDataset, bn_images: int) -> torch.nn.Module:
    """A standalone model of `arch` (at the proxy's resolution) sliced out of `parent`, its BatchNorm
    statistics re-estimated on the first `bn_images` training images."""
    proxy_arch = dataclasses.replace(arch, input_size=parent.model.arch.input_size)
    model = to_memory_format(child_model(parent.model, proxy_arch), parent.memory_format)
    return recalibrate_bn(model, train, bn_images)
