"""What the commands share: the app context, the --format option, token rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from oauthcli.errors import UsageError
from oauthcli.render import FORMATS
from oauthcli.world import World


def world_of(ctx: typer.Context) -> World:
    obj = ctx.find_root().obj
    assert isinstance(obj, World)
    return obj


FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format", "-f",
        help="token (default), json, header or table.",
        show_default=False,
    ),
]  # fmt: skip


def check_format(fmt: str | None, allowed: Sequence[str] = FORMATS) -> str | None:
    if fmt is not None and fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(allowed)}")
    return fmt
