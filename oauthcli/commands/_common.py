"""What the commands share: the app context, the --format option, token rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from oauthcli.context import AppContext
from oauthcli.errors import ExitCode, OAuthCliError, UsageError
from oauthcli.render import FORMATS

# The command line as given (after global options were hoisted); `exec` needs to see its `--`.
RAW_ARGS: list[str] = []


def app_context(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
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


def exit_code_for(errors: Sequence[OAuthCliError]) -> int:
    """Several profiles: the worst (highest) exit code among their failures."""
    return max((int(e.exit_code) for e in errors), default=int(ExitCode.OK))
