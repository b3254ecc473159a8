"""The longest functions of a package (lines from `def` to the last line), longest first.

    python bench/longest_functions.py nas 10
"""
from __future__ import annotations

import ast
import pathlib
import sys


def longest(root: str, count: int) -> list[tuple[int, str, str]]:
    rows = []
    for path in sorted(pathlib.Path(root).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rows.append((node.end_lineno - node.lineno + 1, f"{path}:{node.lineno}", node.name))
    return sorted(rows, reverse=True)[:count]


if __name__ == "__main__":
    for lines, where, name in longest(sys.argv[1] if len(sys.argv) > 1 else "nas",
                                      int(sys.argv[2]) if len(sys.argv) > 2 else 10):
        print(f"{lines:4d}  {name}  {where}")
