"""`oauthcli refresh PROFILE… [--all] [-f FORMAT] [--dry-run]`: always ask the token endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.commands._common import (
    FormatOption,
    check_format,
    world_of,
)
from oauthcli.errors import OAuthCliError, UsageError
from oauthcli.grants import driver as flow
from oauthcli.ladder import worst
from oauthcli.render import Output, render_tokens
from oauthcli.token import Token
from oauthcli.world import World


def register(app: typer.Typer) -> None:
    app.command("refresh")(refresh)


def refresh(
    ctx: typer.Context,
    profiles: Annotated[list[str] | None, typer.Argument(help="Profiles to refresh.")] = None,
    all_profiles: Annotated[bool, typer.Option("--all", help="Refresh every profile.")] = False,
    fmt: FormatOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request, secrets redacted; send nothing.")
    ] = False,
) -> None:
    """Call the token endpoint (always), store the result and print the access token."""
    world = world_of(ctx)
    check_format(fmt)
    names = selected(world, profiles, all_profiles)
    if dry_run:
        text = "\n\n".join(flow.dry_run(world, world.profile(n)) for n in names)
        world.output.out(text + "\n")
        return
    if len(names) == 1:  # one profile: errors go straight to the one place that maps them
        token = flow.refresh(world, world.profile(names[0]))
        render_tokens(world.output, [(names[0], token)], fmt)
        return
    outcomes = _with_progress(world.output, world, names)
    report(world.output, outcomes, fmt)


def selected(rt: World, profiles: list[str] | None, all_profiles: bool) -> list[str]:
    if all_profiles and profiles:
        raise UsageError("give profile names or --all, not both")
    if all_profiles:
        names = rt.config.names
        if not names:
            raise UsageError(f"no profiles in {rt.config.source}")
        return names
    if not profiles:
        raise UsageError("missing argument PROFILE (or --all)")
    for name in profiles:
        rt.profile(name)  # unknown names and schema errors fail before any request
    return list(dict.fromkeys(profiles))


def report(out: Output, outcomes: list[flow.Outcome], fmt: str | None) -> None:
    tokens = [(name, r) for name, r in outcomes if isinstance(r, Token)]
    errors = [(name, r) for name, r in outcomes if isinstance(r, OAuthCliError)]
    if tokens:
        render_tokens(out, tokens, fmt if fmt else None if len(outcomes) > 1 else "token")
    for name, error in errors:
        out.error(f"{name}: {error.message}", error.hint)
    if errors:
        raise typer.Exit(worst([e for _, e in errors]))


def _with_progress(out: Output, rt: World, names: list[str]) -> list[flow.Outcome]:
    if out.quiet or not out.stderr_is_terminal():
        return flow.refresh_many(rt, names)
    from oauthcli.progress import Progress

    with Progress(out, names) as progress:
        return flow.refresh_many(rt, names, progress.done)
