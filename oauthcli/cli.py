"""The Typer app, global options, and the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from oauthcli import __version__
from oauthcli.commands import (
    _common,
    check,
    demo,
    env,
    exec_,
    forget,
    list_,
    refresh,
    show,
    token,
    validate,
)
from oauthcli.context import AppContext, configure_logging, guarded

app = typer.Typer(
    name="oauthcli",
    help="Turn refresh tokens into access tokens: print, export or validate them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    verbose: bool = False


GLOBALS = Globals()


def _version(value: bool) -> None:
    if value:
        print(f"oauthcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="Profiles file ('-' reads YAML from stdin).", show_default=False
        ),
    ] = None,
    state_dir: Annotated[
        str | None,
        typer.Option(
            "--state-dir",
            help="Where stored tokens live.",
            show_default=False,
            envvar="OAUTHCLI_STATE_DIR",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Trace requests to stderr, secrets redacted.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only output and errors.")] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colours (also when NO_COLOR is set).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Turn refresh tokens into access tokens: print, export or validate them."""
    GLOBALS.verbose = verbose
    configure_logging(verbose)
    ctx.obj = AppContext.create(config, state_dir, quiet, no_color or "NO_COLOR" in os.environ)


for module in (refresh, token, env, exec_, validate, list_, show, check, forget, demo):
    module.register(app)


_GLOBAL_FLAGS = {"-v", "--verbose", "-q", "--quiet", "--no-color"}
_GLOBAL_VALUED = {"-c", "--config", "--state-dir"}


def hoist_globals(argv: list[str]) -> list[str]:
    """Let global options follow the command too (`oauthcli check -c FILE`), up to `--`."""
    hoisted: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            hoisted.append(arg)
        elif name in _GLOBAL_VALUED and "=" in arg:
            hoisted.append(arg)
        elif arg in _GLOBAL_VALUED:
            hoisted += [arg, next(args, "")]
        else:
            rest.append(arg)
    return hoisted + rest


def main(argv: list[str] | None = None) -> Any:
    """The full CLI (the console script comes through fastpath.main first)."""
    args = hoist_globals(sys.argv[1:] if argv is None else argv)
    _common.RAW_ARGS[:] = args
    return guarded(lambda: app(args=args, prog_name="oauthcli"), lambda: GLOBALS.verbose)
