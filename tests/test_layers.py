"""The package's layers, in the order data flows: a module imports only from lower layers and its own
package (imports inside functions and type-checking blocks included), so a reader can follow the
pipeline down and a change to a late stage cannot break an early one."""
from __future__ import annotations

import ast
from pathlib import Path

import nas

ROOT = Path(nas.__file__).parent
# the shared helpers, then the stages (packages on one rank import none of each other)
RANK = {"errors": 0, "config": 1, "io": 1, "lazy": 1,
        "data": 2, "keypoints": 2, "model": 2,
        "training": 3, "search": 4, "report": 5, "deploy": 6, "cli": 7, "__main__": 8}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first part below `nas`) of every `nas` import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "nas" else [f"nas.{a.name}" for a in node.names]
        found += [(node.lineno, n.split(".")[1]) for n in names if n.startswith("nas.")]
    return found


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_module_imports_only_lower_layers_and_its_own_package():
    files = sorted(p for p in ROOT.rglob("*.py") if _layer(p) != "__init__")
    assert len(files) > 80  # the whole package was read
    against = [f"{p.relative_to(ROOT.parent)}:{line} imports nas.{target}"
               for p in files for line, target in _imports(p)
               if target != _layer(p) and RANK[target] >= RANK[_layer(p)]]
    assert not against


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "late.py"
    bad.write_text("def f():\n    from nas.report import trials_frame\n")
    assert _imports(bad) == [(2, "report")]
