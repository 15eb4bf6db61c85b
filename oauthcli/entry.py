"""The console script's entry: `token` and `refresh` of one profile run without typer (SPEC §8).

Importing typer costs about as much as the rest of oauthcli on the cached `token` path, and
every parameter it builds costs more. So a command line this module fully understands runs
here; anything else — other commands, help, completion, -v, unknown, repeated or malformed
options — goes to the Typer app unchanged, which also owns every usage error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oauthcli.world import World

_VALUED = {
    "-c": "config", "--config": "config", "--state-dir": "state_dir",
    "-f": "fmt", "--format": "fmt", "--min-valid": "min_valid",
}  # fmt: skip
_FLAGS = {"-q": "quiet", "--quiet": "quiet", "--no-color": "no_color", "--force": "force"}
_ALLOWED = {  # command → the options it takes here (globals are allowed anywhere)
    "token": {"config", "state_dir", "quiet", "no_color", "fmt", "min_valid", "force"},
    "refresh": {"config", "state_dir", "quiet", "no_color", "fmt"},
}
_GLOBALS = {"config", "state_dir", "quiet", "no_color"}  # the only options before the command
_FORMATS = ("token", "json", "header")  # `table` draws with rich: the full CLI does it


def parse(argv: list[str]) -> tuple[str, str, dict[str, Any]] | None:
    """(command, profile, options) for `[globals] token|refresh PROFILE [options]`, else None."""
    options: dict[str, Any] = {}
    words: list[str] = []
    args = iter(argv)
    for arg in args:
        name, eq, inline = arg.partition("=")
        if eq and not name.startswith("--"):
            return None  # click reads `-c=x` as the value "=x"; leave such spellings to it
        key = _VALUED.get(name) or (_FLAGS.get(arg) if not eq else None)
        if key is None or key in options:
            if arg.startswith("-"):
                return None
            words.append(arg)
        elif not words and key not in _GLOBALS:
            return None  # Typer rejects `oauthcli --force token p`: let it say so
        elif key in _FLAGS.values():
            options[key] = True
        else:
            value = inline if eq else next(args, None)
            if value is None:
                return None
            options[key] = value
    if len(words) != 2 or words[0] not in _ALLOWED or not set(options) <= _ALLOWED[words[0]]:
        return None
    if options.get("fmt", "token") not in _FORMATS:
        return None
    if "min_valid" in options:
        try:
            options["min_valid"] = float(options["min_valid"])
        except ValueError:
            return None
        if not options["min_valid"] >= 0:
            return None
    return words[0], words[1], options


def main(argv: list[str] | None = None, world: World | None = None) -> Any:
    """The console script: ``main(argv, world)``; tests and the Python API pass their own world."""
    args = sys.argv[1:] if argv is None else argv
    parsed = parse(args)
    if parsed is None:
        from oauthcli.cli import main as full_cli

        return full_cli(args, world)
    from oauthcli.ladder import configure_logging, guarded
    from oauthcli.world import Options, World

    world = world or World()
    options = parsed[2]
    world.argv = args
    world.options = Options(
        config=options.get("config"), state_dir=options.get("state_dir"),
        quiet=options.get("quiet", False), no_color=options.get("no_color", False),
    )  # fmt: skip
    configure_logging(world)
    return guarded(world, lambda: run(world, *parsed))


def run(world: World, command: str, name: str, options: dict[str, Any]) -> None:
    from oauthcli.grants import driver
    from oauthcli.render import render_tokens

    profile = world.profile(name)
    if command == "token":
        min_valid, force = options.get("min_valid"), options.get("force", False)
        token = driver.obtain(world, profile, min_valid=min_valid, force=force)
    else:
        token = driver.refresh(world, profile)
    render_tokens(world.output, [(name, token)], options.get("fmt"))
