"""What the command bodies share. Bodies are plain functions ``body(world, **values)``: the Typer
app (cli.py) and the typer-free fast path (entry.py) both call them, so nothing here imports typer.
"""

from __future__ import annotations

from collections.abc import Sequence

from oauthcli.errors import UsageError
from oauthcli.options import FORMATS
from oauthcli.worldtype import World


def check_format(fmt: str | None, allowed: Sequence[str] = FORMATS) -> str | None:
    if fmt is not None and fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(allowed)}")
    return fmt


def check_token_format(world: World, fmt: str | None, profiles: int) -> None:
    """The format of `token`/`refresh`, checked before any request is sent."""
    check_format(fmt)
    if fmt == "exec-credential":
        from oauthcli.export import kube

        kube.check(world.environ, profiles)
