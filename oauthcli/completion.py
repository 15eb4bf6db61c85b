"""Shell completion: profile names and option values, for the Typer app.

Profile names come from the profiles file as parsed, without resolving any reference: completing
a word never runs a `${cmd:}` or reads a `${file:}`. Any failure completes nothing (a shell
prompt is no place for an error message).
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from oauthcli.options import Arg, Opt
from oauthcli.world import Options, World


def for_spec(spec: Opt | Arg) -> Callable[..., list[str]] | None:
    if spec.complete == "profiles":
        return profile_names
    if spec.complete == "choices":
        choices = spec.choices

        def values(incomplete: str) -> list[str]:
            return [c for c in choices if c.startswith(incomplete)]

        return values
    return None


def profile_names(ctx: typer.Context, incomplete: str) -> list[str]:
    root = ctx.find_root()
    world = root.obj if isinstance(root.obj, World) else World()
    config = root.params.get("config")
    if config == "-":
        return []  # stdin is the shell's, not a profiles file
    world.options = Options(config=config, state_dir=root.params.get("state_dir"))
    try:
        names = world.config.names
    except Exception:  # noqa: BLE001 - a broken profiles file completes nothing
        return []
    return [n for n in names if n.startswith(incomplete)]
