"""`oauthcli check [--strict]`: lint the profiles file; exit 1 when problems are found."""

from __future__ import annotations

from typing import Annotated

import typer

from oauthcli.commands._common import world_of
from oauthcli.config.lint import lint
from oauthcli.errors import ExitCode


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    ctx: typer.Context,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat unresolved references as errors.")
    ] = False,
) -> None:
    """Lint the profiles file: schema, unresolved references, insecure settings."""
    world = world_of(ctx)
    config = world.config
    findings = lint(config, world.environ, strict)
    lines = [f"{f.level}: {f.profile}: {f.message}" for f in findings]
    errors = sum(f.level == "error" for f in findings)
    warnings = len(findings) - errors
    summary = f"{config.source}: {len(config.names)} profiles, {errors} errors, {warnings} warnings"
    world.output.out("\n".join([*lines, summary]) + "\n")
    if errors:
        raise typer.Exit(int(ExitCode.INVALID))
