"""`oauthcli forget PROFILE… | --all [--revoke]`: delete stored tokens, optionally revoking."""

from __future__ import annotations

from oauthcli.errors import OAuthCliError, UsageError
from oauthcli.ladder import worst
from oauthcli.wire import revoke
from oauthcli.world import World


def forget(
    world: World, profiles: list[str] | None = None, all_profiles: bool = False,
    do_revoke: bool = False,
) -> None:  # fmt: skip
    """Delete stored tokens (and revoke them at the provider when asked)."""
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
        raise SystemExit(worst(errors))
