"""`oauthcli exec PROFILE… -- COMMAND [ARG…]`: run COMMAND with the token in its environment."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.commands import _common
from oauthcli.commands.env import PrefixOption, collect
from oauthcli.commands.token import ForceOption
from oauthcli.errors import UsageError
from oauthcli.export import variables as exporting


def register(app: typer.Typer) -> None:
    app.command("exec")(exec_)


def exec_(
    ctx: typer.Context,
    words: Annotated[
        list[str], typer.Argument(help="PROFILE… -- COMMAND [ARG…]", metavar="PROFILE… -- COMMAND")
    ],
    prefix: PrefixOption = None,
    force: ForceOption = False,
) -> None:
    """Run COMMAND with the exported variables in its environment (no shell, no eval)."""
    world = _common.world_of(ctx)
    profiles, command = split_command(words, world.argv)
    variables = collect(world, profiles, prefix, force)
    exporting.exec_command(command, variables, world.environ)


def split_command(words: list[str], raw_args: list[str]) -> tuple[list[str], list[str]]:
    """Profiles before `--`, the command after it (click drops the `--` itself)."""
    if "--" not in raw_args:
        raise UsageError("usage: oauthcli exec PROFILE… -- COMMAND [ARG…]")
    after = raw_args[raw_args.index("--") + 1 :]
    if not after:
        raise UsageError("missing COMMAND after --")
    profiles = words[: len(words) - len(after)]
    if not profiles:
        raise UsageError("missing PROFILE before --")
    return profiles, after
