"""The Typer app, global options, and the one place where errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from oauthcli import __version__
from oauthcli.commands import (
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
from oauthcli.errors import UsageError
from oauthcli.ladder import configure_logging, guarded
from oauthcli.world import Options, World

app = typer.Typer(
    name="oauthcli",
    help="Turn refresh tokens into access tokens: print, export or validate them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Token store: file (default) or redis://… (also $OAUTHCLI_STORE).",
            show_default=False,
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
    world = ctx.obj
    assert isinstance(world, World)
    world.options = Options(config, state_dir, store, verbose, quiet, no_color)
    configure_logging(world)


for module in (refresh, token, env, exec_, validate, list_, show, check, forget, demo):
    module.register(app)


_GLOBAL_FLAGS = {"-v", "--verbose", "-q", "--quiet", "--no-color"}
_GLOBAL_VALUED = {"-c", "--config", "--state-dir", "--store"}


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


def main(argv: list[str] | None = None, world: World | None = None) -> Any:
    """The full CLI (the console script comes through entry.main first)."""
    world = world or World()
    args = hoist_globals(sys.argv[1:] if argv is None else argv)
    world.argv = args
    return guarded(world, lambda: _run_click(world, args))


def _run_click(world: World, args: list[str]) -> None:
    """Click writes help and errors to sys.stdout/stderr: point them at the world's streams."""
    import contextlib

    from typer._click.exceptions import UsageError as ClickUsageError  # typer vendors click

    with contextlib.redirect_stdout(world.stdout), contextlib.redirect_stderr(world.stderr):
        try:
            code = app(args=args, prog_name="oauthcli", obj=world, standalone_mode=False)
        except ClickUsageError as exc:
            raise usage_error(exc) from None
        except typer.Abort:
            raise KeyboardInterrupt from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


def usage_error(exc: Any) -> UsageError:
    """Click's usage errors in our one-line shape (exit 2), not a box."""
    command = exc.ctx.command_path if exc.ctx is not None else "oauthcli"
    message = exc.format_message().strip().replace("\n", " ")
    return UsageError(message, hint=f"see '{command} --help'")
