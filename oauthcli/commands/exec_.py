"""`oauthcli exec PROFILE… -- COMMAND [ARG…]`: run COMMAND with the token in its environment."""

from __future__ import annotations

from oauthcli.commands.env import collect
from oauthcli.errors import UsageError
from oauthcli.export import variables as exporting
from oauthcli.worldtype import World


def exec_(
    world: World, words: list[str], prefix: list[str] | None = None, force: bool = False
) -> None:
    """Run COMMAND with the exported variables in its environment (no shell, no eval)."""
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
