"""Lazy package exports, the one mechanism every `nas` package uses: a package lists, per submodule,
the names it re-exports; each loads on first use (so `import nas.search` does not import torch), and
`tests/test_api.py` checks every listed name against the module it names.

    __all__, __getattr__, __dir__ = exports(__name__, {"space": ["SearchSpace", "load_space"], ...})
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["exports"]


def exports(package: str, homes: Mapping[str, Sequence[str]]
            ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """(`__all__`, `__getattr__`, `__dir__`) of `package`, whose public names are `homes`' (submodule,
    relative to the package -> its names). The table is kept on the package as `_HOME` (name ->
    submodule)."""
    where = {name: module for module, names in homes.items() for name in names}
    public = sorted(where)
    sys.modules[package]._HOME = where

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    def __dir__() -> list[str]:
        return sorted({*public, *vars(sys.modules[package])})

    return public, __getattr__, __dir__
