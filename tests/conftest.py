from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
