"""The console script's entry: plain `token`, `refresh` and `git-credential` lines of one profile
run without typer (SPEC §8).

Importing typer costs about as much as the rest of oauthcli on the cached `token` path, and
every parameter it builds costs more. So a command line that this module fully understands,
read with the same specifications (options.py) the Typer app is built from, runs the same
command body here; anything else — other commands, help, completion, -v, unknown, repeated or
malformed options, values that look like options — goes to the Typer app unchanged, which also
owns every usage error. tests/test_options.py checks that both give the same result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from oauthcli.options import BY_NAME, GLOBALS, Command, Opt, hoist_globals

if TYPE_CHECKING:
    from oauthcli.worldtype import World

_GLOBAL_FLAGS = {flag: spec for spec in GLOBALS for flag in spec.flags}


class Parsed(NamedTuple):
    command: str
    profile: str
    options: dict[str, Any]  # every value given on the line except the profile


def parse(argv: list[str]) -> Parsed | None:
    """(command, profile, values) for a plain line of a fast command, else None."""
    args = iter(hoist_globals(argv))
    scope, command = _GLOBAL_FLAGS, None
    given: dict[str, Any] = {}
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            matched = _option(arg, scope, args)
            if matched is None or matched[0].dest in given:
                return None
            given[matched[0].dest] = matched[1]
        elif command is None:
            command = BY_NAME.get(arg)
            if command is None or not command.fast:
                return None
            scope = {flag: spec for spec in command.options for flag in spec.flags}
        else:
            words.append(arg)
    if command is None or len(words) != len(command.arguments):
        return None
    for spec, word in zip(command.arguments[1:], words[1:], strict=True):
        given[spec.dest] = word
    return Parsed(command.name, words[0], given)


def _option(arg: str, scope: dict[str, Opt], args: Iterator[str]) -> tuple[Opt, Any] | None:
    """The option and its value, or None for anything click might read differently."""
    name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    spec = scope.get(name)
    if spec is None or not spec.fast or spec.eager or spec.kind == "texts":
        return None
    if not spec.takes_value:
        return None if eq else (spec, True)
    value = inline if eq else next(args, None)
    if value is None or (value.startswith("-") and value != "-"):
        return None
    if spec.fast_values is not None and value not in spec.fast_values:
        return None
    if spec.kind == "number":
        try:
            number = float(value)
        except ValueError:
            return None
        if not number >= (spec.minimum or 0.0):  # NaN too: the Typer app says what is wrong
            return None
        return spec, number
    return spec, value


def body_values(command: Command, parsed: Parsed) -> dict[str, Any]:
    """The keywords the Typer app would pass: every argument and option, defaults filled in."""
    first = command.arguments[0]
    values: dict[str, Any] = {first.dest: [parsed.profile] if first.many else parsed.profile}
    for arg in command.arguments[1:]:
        values[arg.dest] = parsed.options[arg.dest]
    for opt in command.options:
        values[opt.dest] = parsed.options.get(opt.dest, opt.default)
    return values


def main(argv: list[str] | None = None, world: World | None = None) -> Any:
    """The console script: ``main(argv, world)``; tests and the Python API pass their own world."""
    args = sys.argv[1:] if argv is None else argv
    environ = world.environ if world is not None else os.environ
    parsed = None if "_OAUTHCLI_COMPLETE" in environ else parse(args)  # completion: Typer's
    if parsed is None:
        from oauthcli.cli import main as full_cli

        return full_cli(args, world)
    from oauthcli.ladder import configure_logging, guarded
    from oauthcli.world import World as RealWorld
    from oauthcli.worldtype import Options

    world = world or RealWorld()
    given = parsed.options
    world.argv = hoist_globals(args)
    world.options = Options(**{g.dest: given.get(g.dest, g.default) for g in GLOBALS
                               if g.dest != "version"})  # fmt: skip
    configure_logging(world)
    command = BY_NAME[parsed.command]
    return guarded(world, lambda: command.load()(world, **body_values(command, parsed)))

