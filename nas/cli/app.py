"""The Typer app every command module registers on, the consoles they print with, and `--debug`."""
from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="handkp-search",
    help="Search small 2D hand-keypoint models ranked by GFLOPs x MParams x exp(px error).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output (CI logs, files) gets a wide console so tables are not squeezed to 80 columns
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    _state["debug"] = debug


