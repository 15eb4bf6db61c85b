"""`oauthcli forget PROFILE… | --all [--revoke]`: delete stored tokens, optionally revoking."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.commands._common import world_of
from oauthcli.errors import OAuthCliError, UsageError
from oauthcli.ladder import worst
from oauthcli.wire import revoke


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)


def forget(
    ctx: typer.Context,
    profiles: Annotated[list[str] | None, typer.Argument(help="Profiles to forget.")] = None,
    all_profiles: Annotated[bool, typer.Option("--all", help="Forget every stored token.")] = False,
    do_revoke: Annotated[
        bool,
        typer.Option(
            "--revoke", help="Revoke the refresh token at revocation_url first (RFC 7009)."
        ),
    ] = False,
) -> None:
    """Delete stored tokens (and revoke them at the provider when asked)."""
    world = world_of(ctx)
    rt = world
    if all_profiles == bool(profiles):
        raise UsageError("give profile names or --all (one of the two)")
    names = rt.store.names() if all_profiles else list(dict.fromkeys(profiles or []))
    if not all_profiles:
        for name in names:
            rt.profile(name)
    errors: list[OAuthCliError] = []
    for name in names:
        try:
            message = revoke.forget(rt, name, do_revoke)
        except OAuthCliError as exc:
            world.output.error(f"{name}: {exc.message}", exc.hint)
            errors.append(exc)
            continue
        world.output.note(f"{name}: {message}")
    if errors:
        raise typer.Exit(worst(errors))
