"""`oauthcli refresh PROFILE… [--all] [-f FORMAT] [--dry-run]`: always ask the token endpoint."""

from __future__ import annotations

from oauthcli.commands._common import check_format, check_token_format
from oauthcli.errors import OAuthCliError, UsageError
from oauthcli.grants import driver as flow
from oauthcli.ladder import worst
from oauthcli.render import Output, render_outcomes, render_tokens
from oauthcli.worldtype import World


def refresh(
    world: World, profiles: list[str] | None = None, all_profiles: bool = False,
    fmt: str | None = None, dry_run: bool = False,
) -> None:  # fmt: skip
    """Call the token endpoint (always), store the result and print the access token."""
    check_format(fmt)
    names = selected(world, profiles, all_profiles)
    check_token_format(world, fmt, len(names))
    if dry_run:
        text = "\n\n".join(flow.dry_run(world, world.profile(n)) for n in names)
        world.output.out(text + "\n")
        return
    if len(names) == 1:  # one profile: errors go straight to the one place that maps them
        token = flow.refresh(world, world.profile(names[0]))
        render_tokens(world.output, [(names[0], token)], fmt, world.clock())
        return
    outcomes = _with_progress(world.output, world, names)
    report(world.output, outcomes, fmt, world.clock())


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


def report(
    out: Output, outcomes: list[flow.Outcome], fmt: str | None, now: float | None = None
) -> None:
    """Every profile's entry in order, a failed one in its place (render_outcomes), then one
    error line per failure on stderr; the exit code is the worst failure's."""
    errors = [(name, r) for name, r in outcomes if isinstance(r, OAuthCliError)]
    render_outcomes(out, outcomes, fmt, now)
    for name, error in errors:
        out.error(f"{name}: {error.message}", error.hint)
    if errors:
        raise SystemExit(worst([e for _, e in errors]))


def _with_progress(out: Output, rt: World, names: list[str]) -> list[flow.Outcome]:
    """Large sets over one worker process per CPU (grants/fanout.py), forked before the
    display starts its thread."""
    from oauthcli.grants import fanout

    if out.quiet or not out.stderr_is_terminal():
        return fanout.refresh_all(rt, names)
    from oauthcli.progress import Progress

    with fanout.start(rt, names) as workers, Progress(out, names) as progress:
        return workers.run(progress.done)
