"""The public API: every name a package lists in `__all__` resolves to the object its home module
defines (lazy loaders included), and importing a package stays light: no torch until a name needs it."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["nas", "nas.data", "nas.model", "nas.keypoints", "nas.training", "nas.search", "nas.report",
            "nas.deploy", "nas.cli"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} lists no public names"
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing
    home = getattr(module, "_HOME", {})
    for name, sub in home.items():  # a lazy name is the very object of the module it names
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{sub}"), name), name


LIGHT = [p for p in PACKAGES if p != "nas.keypoints"]  # nas.keypoints is tensor code through and through


def test_importing_a_package_does_not_import_torch():
    code = "import sys\n" + "".join(f"import {p}\n" for p in LIGHT) + "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_names_raise_attribute_error():
    import nas

    with pytest.raises(AttributeError, match="no_such_name"):
        nas.no_such_name  # noqa: B018
