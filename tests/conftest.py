from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# a search space small enough for real CLI runs in tests (shared by the study, data and retrain tests)
TINY_SPACE = """
space:
  backbone: [mobilenetv3_small]
  backbone_width: {low: 0.25, high: 0.5, step: 0.05}
  head_width: {low: 0.125, high: 0.5, step: 0.125}
  head_depth: {low: 1, high: 2}
  aug_multiplier: {low: 1, high: 2}
input_size: 64
proxy:
  train_size: 64
  epochs: 1
  train_images: 48
  val_images: 16
  batch_size: 16
data:
  source: synthetic
  seed: 3
search:
  startup_trials: 2
"""


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory) -> Path:
    """One synthetic-data cache for the whole test session."""
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def tiny_data(synth_cache):
    """A few dozen real 64 px synthetic hands: (train, val)."""
    from nas.data import load_synthetic

    train = load_synthetic(96, 64, seed=11, cache_dir=synth_cache)
    val = load_synthetic(32, 64, seed=12, cache_dir=synth_cache)
    return train, val


@pytest.fixture()
def cli_env(synth_cache) -> dict[str, str]:
    env = dict(os.environ)
    env["HANDKP_CACHE"] = str(synth_cache)
    env["PYTHONPATH"] = str(ROOT)
    return env


def cli(*args: str) -> list[str]:
    """The real console script of this environment."""
    exe = Path(sys.executable).with_name("handkp-search")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "nas", *args]


def folder_state(root: Path) -> dict[str, str | None]:
    """Every file and folder under `root` (relative path -> the file's SHA-256, None for a folder): equal
    before and after a command that must create, change and delete nothing there."""
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="session")
def stored_study_db(tmp_path_factory) -> Path:
    """An SQLite storage file holding study 'x' (objective pareto, two complete trials): copy it into a
    test's folder where a failing command must leave an existing storage byte-identical."""
    import optuna

    path = tmp_path_factory.mktemp("stored") / "s.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="x", storage=f"sqlite:///{path}", directions=["minimize"] * 3)
    study.set_user_attr("objective", "pareto")
    for i in range(2):
        study.tell(study.ask(), [1.0 + i, 2.0, 3.0])
    return path
