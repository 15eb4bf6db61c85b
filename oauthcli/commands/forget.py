"""`oauthcli forget PROFILE… | --all [--revoke] [--yes]`: delete stored tokens, optionally revoking.

A stored rotated refresh token may be the only live one: providers that rotate (Xero, Slack,
GitHub Apps, django-oauth-toolkit …) invalidate the refresh token in the profile on first use.
Dropping it unrevoked can therefore lose the grant, so that needs a "yes" on a terminal, or
``--yes`` (SPEC §13); without either nothing is deleted. ``--revoke`` revokes it first and needs
no confirmation: the grant is given up on purpose.
"""

from __future__ import annotations

from oauthcli.errors import OAuthCliError, UsageError
from oauthcli.ladder import worst
from oauthcli.store.state import State, fingerprint
from oauthcli.wire import revoke
from oauthcli.worldtype import World


def forget(
    world: World, profiles: list[str] | None = None, all_profiles: bool = False,
    do_revoke: bool = False, yes: bool = False,
) -> None:  # fmt: skip
    """Delete stored tokens (and revoke them at the provider when asked)."""
    rt = world
    if all_profiles == bool(profiles):
        raise UsageError("give profile names or --all (one of the two)")
    names = rt.store.names() if all_profiles else list(dict.fromkeys(profiles or []))
    if not all_profiles:
        for name in names:
            rt.profile(name)
    if not (yes or do_revoke):
        names = confirmed(world, names)
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
        raise SystemExit(worst(errors))


def confirmed(world: World, names: list[str]) -> list[str]:
    """The names that may be forgotten: all of them, once each one holding a rotated refresh
    token is confirmed on a terminal. Off a terminal that is a usage error, before anything
    is deleted."""
    at_risk = [name for name in names if holds_rotated_refresh_token(world, name)]
    if not at_risk:
        return names
    if not _is_terminal(world):
        which = ", ".join(repr(n) for n in at_risk)
        raise UsageError(
            f"not forgetting {which}: the stored rotated refresh token is not revoked, and the "
            "refresh token in the profile may already be dead",
            hint="pass --yes to forget anyway, or --revoke to revoke it first",
        )
    declined = [name for name in at_risk if not _ask(world, name)]
    for name in declined:
        world.output.note(f"{name}: kept (not confirmed)")
    return [name for name in names if name not in declined]


def holds_rotated_refresh_token(world: World, name: str) -> bool:
    """Would forgetting ``name`` drop a refresh token other than the configured one?

    The state records a fingerprint of the configured refresh token it started from; a rotated
    token with another fingerprint is one the provider issued since (or the only one, after a
    login). Nothing is resolved or sent to find out.
    """
    return any(
        isinstance(state, State)
        and bool(state.rotated_refresh_token)
        and fingerprint(state.rotated_refresh_token) != state.refresh_token_fingerprint
        for state in map(world.store.inspect, _state_keys(world, name))
    )


def _state_keys(world: World, name: str) -> list[str]:
    """The keys ``revoke.forget`` deletes: the grant's, and the name state had before."""
    from oauthcli.grants.identity import state_name

    if "@" in name:  # a stored grant's key, from --all
        return [name]
    return [state_name(world, world.profile(name)), name]


def _is_terminal(world: World) -> bool:
    try:
        return world.stdin.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def _ask(world: World, name: str) -> bool:
    world.stderr.write(
        f"{name}: the stored refresh token was rotated by the provider and is not revoked; "
        "the one in the profile may already be dead. Forget it? [y/N] "
    )
    world.stderr.flush()
    answer = world.stdin.readline()
    return answer.strip().lower() in ("y", "yes")
