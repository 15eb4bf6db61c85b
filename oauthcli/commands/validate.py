"""`oauthcli validate PROFILE [--token T | --token -] [--refresh] [-f table|json] [--min-valid S]`.

Checks the stored (or given) token and prints one row per check; exit 0 valid, 1 not valid,
5 when a check could not be performed because the network failed. The token itself is never
printed. `oauthcli.validate.checks` (and with it the JWT library) is imported only when this runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oauthcli.commands._common import check_format
from oauthcli.errors import UsageError
from oauthcli.options import REPORT_FORMATS
from oauthcli.render import Output, json_line
from oauthcli.worldtype import World

if TYPE_CHECKING:
    from oauthcli.validate.checks import Report

STYLES = {"pass": "green", "fail": "bold red", "skipped": "dim", "error": "yellow"}


def validate(
    world: World, profile: str, token: str | None = None, refresh: bool = False,
    fmt: str | None = None, min_valid: float | None = None,
) -> None:  # fmt: skip
    """Check a token: expiry, JWT claims and signature, introspection, a probe request."""
    from oauthcli.validate import checks as validation

    check_format(fmt, REPORT_FORMATS)
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
    from rich.text import Text

    # Details quote servers and tokens: plain text for the table, never markup (SPEC §13).
    rows = [
        (c["name"], Text(c["result"], style=STYLES[c["result"]]), c["detail"])
        for c in data["checks"]
    ]
    out.table(f"{report.profile}: {report.verdict}", ("check", "result", "detail"), rows)
