"""`oauthcli validate PROFILE [--token T | --token -] [--refresh] [-f table|json] [--min-valid S]`.

Checks the stored (or given) token and prints one row per check; exit 0 valid, 1 not valid,
5 when a check could not be performed because the network failed. The token itself is never
printed. `oauthcli.validate.checks` (and with it the JWT library) is imported only when this runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from oauthcli.commands._common import check_format, world_of
from oauthcli.commands.token import MinValidOption
from oauthcli.errors import UsageError
from oauthcli.render import Output, json_line

if TYPE_CHECKING:
    from oauthcli.validate.checks import Report

STYLES = {"pass": "green", "fail": "bold red", "skipped": "dim", "error": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    ctx: typer.Context,
    profile: Annotated[str, typer.Argument(help="Profile name.")],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Check this token instead of the stored one; '-' reads "
            "it from stdin (safer than the command line).",
            show_default=False,
        ),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Refresh first if the stored token is missing or stale."),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="table (default) or json.", show_default=False),
    ] = None,
    min_valid: MinValidOption = None,
) -> None:
    """Check a token: expiry, JWT claims and signature, introspection, a probe request."""
    from oauthcli.validate import checks as validation

    world = world_of(ctx)
    check_format(fmt, ("table", "json"))
    if token is not None and refresh:
        raise UsageError("--token and --refresh exclude each other")
    rt = world
    if token is None:
        chosen = rt.profile(profile)
        subject = validation.stored_subject(rt, chosen, refresh=refresh, min_valid=min_valid)
    else:  # registered as a secret before anything else can fail and print
        given = world.stdin.read() if token == "-" else token
        subject = validation.given_subject(
            given, "stdin" if token == "-" else "--token", world.secrets
        )
        chosen = rt.profile(profile)
    report = validation.validate(rt, chosen, subject, min_valid)
    _render(world.output, report, fmt)
    problem = report.problem()
    if problem is not None:
        raise problem


def _render(out: Output, report: Report, fmt: str | None) -> None:
    data = report.to_dict(out.secrets)
    if fmt == "json":
        out.out(json_line(data))
        return
    from rich.markup import escape

    rows = [
        (c["name"], f"[{STYLES[c['result']]}]{c['result']}[/]", escape(c["detail"]))
        for c in data["checks"]
    ]
    out.table(f"{report.profile}: {report.verdict}", ("check", "result", "detail"), rows)
