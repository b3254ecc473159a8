"""`handkp-search` command line: thin Typer commands over the library, one module per command group.

Every failure a user can cause ends as one line on stderr and exit code 2: a bad command line
(click's usage errors, e.g. `error: --epochs: ...`) before any work starts, and the library's
typed errors (`nas.errors.NasError`) once it runs; `--debug` shows the traceback of the latter.
"""
from __future__ import annotations

import importlib
import inspect
import sys
import traceback

import typer

from nas.cli.app import _state, app, err_console
from nas.errors import NasError

__all__ = ["app", "main"]

# each module registers its commands on `app`; this order is the order of `--help`
COMMAND_MODULES = ("models", "study", "deploy", "data")
for _name in COMMAND_MODULES:
    importlib.import_module(f"nas.cli.{_name}")


def _flowing(doc: str) -> str:
    """A docstring with each paragraph on one line, so help wraps it to the terminal (Typer keeps the
    line breaks of every paragraph after the first, and of the first in the list of commands)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


for _group in (app, *(g.typer_instance for g in app.registered_groups)):
    for _cmd in _group.registered_commands:
        if _cmd.help is None and _cmd.callback is not None and _cmd.callback.__doc__:
            _cmd.help = _flowing(_cmd.callback.__doc__)

# the click in use (Typer's own copy in recent Typer, else click), found through Typer's public name
_click_errors = sys.modules[typer.BadParameter.__module__]
_ABORTS = tuple({typer.Abort, getattr(_click_errors, "Abort", typer.Abort)})
_HELP_SHOWN = getattr(_click_errors, "NoArgsIsHelpError", ())  # `handkp-search` alone: help, no error line


def main() -> None:
    """Console entry point: usage errors and NasError -> one line on stderr, exit 2; Ctrl-C -> exit 130."""
    try:
        rv = app(standalone_mode=False)
    except _HELP_SHOWN as exc:
        if exc.format_message().strip():  # rich help is printed already
            exc.show()
        sys.exit(exc.exit_code)
    except _click_errors.UsageError as exc:
        print(f"error: {_usage_line(exc)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except _click_errors.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (*_ABORTS, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    except NasError as exc:
        if _state["debug"]:
            traceback.print_exc()
        else:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


def _usage_line(exc: Exception) -> str:
    """A usage error in one line, naming the option as it is typed: `--epochs: <problem>`."""
    param = getattr(exc, "param", None)
    bad_value = isinstance(exc, _click_errors.BadParameter) and not isinstance(exc, _click_errors.MissingParameter)
    if bad_value and param is not None and getattr(exc, "param_hint", None) is None:
        opts = getattr(param, "opts", None) or []
        name = max(opts, key=len) if opts else param.human_readable_name
        typed = _typed_value(opts, sys.argv[1:])
        return f"{name}: " + (f"{typed!r}: " if typed is not None else "") + " ".join(exc.message.split())
    return " ".join(exc.format_message().split())


def _typed_value(opts: list[str], argv: list[str]) -> str | None:
    """The value given on the command line for the option `opts` (its last occurrence), if any."""
    value = None
    for i, token in enumerate(argv):
        if token in opts and i + 1 < len(argv):
            value = argv[i + 1]
        elif "=" in token and token.split("=", 1)[0] in opts:
            value = token.split("=", 1)[1]
    return value
