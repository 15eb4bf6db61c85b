"""The console script's entry: plain `token`, `refresh` and `git-credential` lines of one profile
run without typer (SPEC §8).

Importing typer costs about as much as the rest of oauthcli on the cached `token` path, and
every parameter it builds costs more. So a command line that this module fully understands,
read with the same specifications (options.py) the Typer app is built from, runs the same
command body here; anything else — other commands, help, completion, -v, unknown, repeated or
malformed options, values that look like options — goes to the Typer app unchanged, which also
owns every usage error. tests/test_options.py checks that both give the same result.

Before all that, a line the cached route understands (`token`, `env`, `git-credential … get`)
is answered from the store by oauthcli.cached when the stored token is fresh: this module and
that package import nothing beyond ``os``, ``sys`` and ``json`` until then (SPEC §8).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing, options.py and the World load only past the cached route
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from oauthcli.options import Command, Opt
    from oauthcli.worldtype import World


_CACHED_WORDS = {"token", "env", "git-credential"}  # lines oauthcli.cached may answer


class Parsed(tuple[str, "list[str]", "dict[str, Any]"]):
    """(command, profiles, options): a plain line of a fast command (a NamedTuple would need
    typing, about as costly to import as the rest of the cached route)."""

    __slots__ = ()

    def __new__(cls, command: str, profiles: list[str], options: dict[str, Any]) -> Parsed:
        return super().__new__(cls, (command, profiles, options))

    @property
    def command(self) -> str:
        return self[0]

    @property
    def profiles(self) -> list[str]:
        """The first argument's words: one profile, or any number (`refresh a b`, `--all`)."""
        return self[1]

    @property
    def options(self) -> dict[str, Any]:
        """Every value given on the line except the profile."""
        return self[2]


def parse(argv: list[str]) -> Parsed | None:
    """(command, profile, values) for a plain line of a fast command, else None."""
    from oauthcli.options import BY_NAME, GLOBALS, hoist_globals

    args = iter(hoist_globals(argv))
    scope: dict[str, Opt] = {flag: spec for spec in GLOBALS for flag in spec.flags}
    command: Command | None = None
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
    if command is None or not command.arguments:
        return None
    first = command.arguments[0]
    if first.many and len(command.arguments) == 1:  # `refresh a b c`, `refresh --all`
        return Parsed(command.name, words, given) if words or not first.required else None
    if len(words) != len(command.arguments):
        return None
    for spec, word in zip(command.arguments[1:], words[1:], strict=True):
        given[spec.dest] = word
    return Parsed(command.name, words[:1], given)


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
    words = parsed.profiles
    values: dict[str, Any] = {first.dest: (words or None) if first.many else words[0]}
    for arg in command.arguments[1:]:
        values[arg.dest] = parsed.options[arg.dest]
    for opt in command.options:
        values[opt.dest] = parsed.options.get(opt.dest, opt.default)
    return values


def main(argv: list[str] | None = None, world: World | None = None) -> Any:
    """The console script: ``main(argv, world)``; tests and the Python API pass their own world."""
    try:
        return _main(argv, world)
    finally:
        if argv is None and world is None:  # the console script: the process ends next
            _before_exit()


def _before_exit() -> None:
    """Everything alive now dies with the process, and the OS takes its memory back at once.
    ``gc.freeze()`` lets the interpreter's final collections skip it: they were a fifth of a
    `refresh` (bench/README.md). atexit handlers, finalizers and flushing run as ever."""
    import gc

    gc.freeze()


def _main(argv: list[str] | None, world: World | None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    environ = world.environ if world is not None else os.environ
    replay: str | None = None  # what the cached route read of stdin (git's request)
    if world is None and "_OAUTHCLI_COMPLETE" not in environ and _CACHED_WORDS & set(args):
        from oauthcli.cached.route import answer

        answered = answer(args, os.environ, sys.stdin, sys.stdout, sys.stderr)
        if answered is True:
            return None
        replay = answered if isinstance(answered, str) else None
    if replay is not None:
        import io

        from oauthcli.world import World as RealWorld

        world = RealWorld(stdin=io.StringIO(replay))
    return _full(args, world, environ)


def _full(args: list[str], world: World | None, environ: Any) -> Any:
    """The fast path's command bodies, or the Typer app."""
    parsed = None if "_OAUTHCLI_COMPLETE" in environ else parse(args)  # completion: Typer's
    if parsed is None:
        from oauthcli.cli import main as full_cli

        return full_cli(args, world)
    from oauthcli.ladder import configure_logging, guarded
    from oauthcli.options import BY_NAME, GLOBALS, hoist_globals
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
