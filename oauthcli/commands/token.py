"""`oauthcli token PROFILE`: a valid access token, from the store while it is fresh.

This is the path scripts call hundreds of times: nothing here imports requests or rich
unless the stored token is stale (SPEC §8).
"""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.commands._common import FormatOption, check_format, world_of
from oauthcli.grants import driver as flow
from oauthcli.render import render_tokens

MinValidOption = Annotated[
    float | None,
    typer.Option(
        "--min-valid",
        help="Seconds the stored token must still be valid (default: the profile's, 60).",
        show_default=False,
        min=0,
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Refresh even if the stored token is still valid.")
]


def register(app: typer.Typer) -> None:
    app.command("token")(token)


def token(
    ctx: typer.Context,
    profile: Annotated[str, typer.Argument(help="Profile name.")],
    fmt: FormatOption = None,
    min_valid: MinValidOption = None,
    force: ForceOption = False,
) -> None:
    """Print a valid access token: the stored one if fresh enough, else refresh first."""
    world = world_of(ctx)
    check_format(fmt)
    result = flow.obtain(world, world.profile(profile), min_valid=min_valid, force=force)
    render_tokens(world.output, [(profile, result)], fmt)
