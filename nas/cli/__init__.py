"""`handkp-search` command line: thin Typer commands over the library, one module per command group.

Library code raises typed errors (`nas.errors.NasError`); here they become one line on stderr and
exit code 2 (`--debug` shows the traceback instead).
"""
from __future__ import annotations

import importlib
import sys
import traceback

import click

from nas.cli.app import _state, app, err_console
from nas.errors import NasError

__all__ = ["app", "main"]

# each module registers its commands on `app`; this order is the order of `--help`
COMMAND_MODULES = ("models", "study", "deploy", "data")
for _name in COMMAND_MODULES:
    importlib.import_module(f"nas.cli.{_name}")


def main() -> None:
    """Console entry point: NasError -> one line on stderr, exit 2; Ctrl-C -> exit 130."""
    try:
        rv = app(standalone_mode=False)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except NasError as exc:
        if _state["debug"]:
            traceback.print_exc()
        else:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)

