"""The public API: every name a package lists in `__all__` is the very object its defining module holds
(whatever loads it lazily, and after every submodule has been imported, so no submodule shadows it), an
unknown name raises AttributeError, and importing a package stays light: no torch until a name needs it."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import pytest

PACKAGES = ["nas", "nas.data", "nas.model", "nas.keypoints", "nas.training", "nas.search", "nas.report",
            "nas.deploy", "nas.cli"]


def _import_every_submodule(package: types.ModuleType) -> None:
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if not info.name.endswith(".__main__"):  # `python -m nas` would run the CLI
            importlib.import_module(info.name)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_the_object_its_defining_module_holds(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} lists no public names"
    assert len(set(module.__all__)) == len(module.__all__), "a name listed twice"
    # a submodule imported later becomes an attribute of its package: it must not replace a public name
    _import_every_submodule(module)
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj is not None and not isinstance(obj, types.ModuleType), f"{package}.{name} is {obj!r}"
        home = getattr(obj, "__module__", None)
        if isinstance(home, str) and home.startswith("nas.") and isinstance(obj, (type, types.FunctionType)):
            assert getattr(importlib.import_module(home), obj.__qualname__) is obj, f"{package}.{name}"
    for name, sub in getattr(module, "_HOME", {}).items():  # a lazy name is the object of the module it names
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{sub}"), name), name


LIGHT = [p for p in PACKAGES if p != "nas.keypoints"]  # nas.keypoints is tensor code through and through


def test_importing_a_package_does_not_import_torch():
    code = "import sys\n" + "".join(f"import {p}\n" for p in LIGHT) + "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_names_raise_attribute_error(package):
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(module, "no_such_name")
    assert not hasattr(module, "no_such_name")
