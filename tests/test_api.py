"""The public API: every name a package lists in `__all__` resolves (lazy loaders included)."""
from __future__ import annotations

import importlib

import pytest

PACKAGES = ["nas", "nas.data", "nas.model", "nas.keypoints", "nas.training", "nas.search", "nas.report",
            "nas.deploy", "nas.cli"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} lists no public names"
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing


def test_unknown_names_raise_attribute_error():
    import nas

    with pytest.raises(AttributeError, match="no_such_name"):
        nas.no_such_name  # noqa: B018
