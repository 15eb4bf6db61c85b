"""The Typer app, built from the option specifications in options.py, and the full CLI's main.

Each command of ``options.COMMANDS`` becomes a Typer command whose parameters are made from its
``Arg`` and ``Opt`` specifications; invoking it imports the command's body and calls
``body(world, **values)``, exactly as the typer-free fast path (entry.py) does.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from oauthcli import __version__, options
from oauthcli import completion as complete
from oauthcli.errors import UsageError
from oauthcli.ladder import configure_logging, guarded
from oauthcli.options import Arg, Command, Opt
from oauthcli.world import World
from oauthcli.worldtype import Options
from oauthcli.worldtype import World as WorldType

app = typer.Typer(
    name="oauthcli",
    help="Turn refresh tokens into access tokens: print, export or validate them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_TYPES = {"flag": bool, "text": str | None, "number": float | None, "texts": list[str] | None}


def world_of(ctx: typer.Context) -> World:
    obj = ctx.find_root().obj
    assert isinstance(obj, World)
    return obj


def _version(value: bool) -> None:
    if value:
        print(f"oauthcli {__version__}")
        raise typer.Exit()


def typer_option(spec: Opt) -> Any:
    """The ``typer.Option`` of one specification."""
    return typer.Option(
        *spec.flags, help=spec.help, show_default=spec.default not in (None, False),
        min=spec.minimum, metavar=spec.metavar, is_eager=spec.eager,
        callback=_version if spec.dest == "version" else None,
        autocompletion=complete.for_spec(spec),
    )  # fmt: skip


def typer_argument(spec: Arg) -> Any:
    return typer.Argument(
        help=spec.help, metavar=spec.metavar, show_default=False,
        autocompletion=complete.for_spec(spec),
    )  # fmt: skip


def _parameter(spec: Opt | Arg) -> inspect.Parameter:
    if isinstance(spec, Arg):
        kind: Any = list[str] if spec.many else str
        kind = kind if spec.required else kind | None
        info, default = typer_argument(spec), inspect.Parameter.empty if spec.required else None
    else:
        kind, info, default = _TYPES[spec.kind], typer_option(spec), spec.default
        if spec.kind == "text" and spec.default is not None:
            kind = str
    annotation = Annotated[kind, info]
    return inspect.Parameter(spec.dest, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)  # fmt: skip


def _typed(
    run: Callable[..., None], specs: tuple[Opt | Arg, ...], help_text: str
) -> Callable[..., None]:
    """A function Typer can read: ``ctx`` plus one annotated parameter per specification."""
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)  # fmt: skip
    signature = inspect.Signature([context, *map(_parameter, specs)])
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    run.__doc__ = help_text
    return run


def _command(command: Command) -> Callable[..., None]:
    def run(ctx: typer.Context, **values: Any) -> None:
        command.load()(world_of(ctx), **values)

    return _typed(run, (*command.arguments, *command.options), command.help)


def _globals(ctx: typer.Context, **values: Any) -> None:
    world = world_of(ctx)
    values.pop("version", None)
    world.options = Options(**values)
    configure_logging(world)


app.callback()(_typed(_globals, options.GLOBALS, app.info.help or ""))
for _spec in options.COMMANDS:
    app.command(_spec.name)(_command(_spec))


def main(argv: list[str] | None = None, world: WorldType | None = None) -> Any:
    """The full CLI (the console script comes through entry.main first)."""
    world = world or World()
    args = options.hoist_globals(sys.argv[1:] if argv is None else argv)
    world.argv = args
    return guarded(world, lambda: _run_click(world, args))


def _run_click(world: WorldType, args: list[str]) -> None:
    """Click writes help and errors to sys.stdout/stderr: point them at the world's streams."""
    import contextlib

    from typer._click.exceptions import UsageError as ClickUsageError  # typer vendors click

    with contextlib.redirect_stdout(world.stdout), contextlib.redirect_stderr(world.stderr):
        if complete.install_request(args):
            return
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
