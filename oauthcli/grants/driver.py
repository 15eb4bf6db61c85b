"""The refresh flow: read the store, take the lock, refresh once, store before reporting.

`obtain` is the path of `token`, `env` and `exec`: when the stored token is fresh it touches
neither the network nor `requests` (SPEC §8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from oauthcli.config.model import Profile
from oauthcli.errors import ConfigError, OAuthCliError, UsageError
from oauthcli.store.state import State, fingerprint
from oauthcli.token import Token

log = logging.getLogger("oauthcli")

if TYPE_CHECKING:
    from oauthcli.world import World


def is_fresh(state: State | None, profile: Profile, now: float, min_valid: float | None) -> bool:
    if state is None:
        return False
    leeway = profile.min_valid if min_valid is None else min_valid
    return not state.token.is_expired(now, leeway, profile.assume_ttl)


def obtain(
    rt: World, profile: Profile, *, min_valid: float | None = None, force: bool = False
) -> Token:
    """A token with more than ``min_valid`` seconds left: stored, or refreshed (once)."""
    if min_valid is not None and not 0 <= min_valid < float("inf"):
        raise UsageError(f"--min-valid must be a finite number of seconds, not {min_valid:g}")
    if not force:
        state = rt.store.read(profile.name)
        if is_fresh(state, profile, rt.clock(), min_valid):
            assert state is not None
            rt.secrets.add(state.token.access_token)
            return state.token
    with rt.store.lock(profile.name, profile.lock_timeout):
        state = rt.store.read(profile.name)  # another process may have refreshed meanwhile
        if not force and is_fresh(state, profile, rt.clock(), min_valid):
            assert state is not None
            return state.token
        return _refresh_locked(rt, profile, state)


def refresh(rt: World, profile: Profile) -> Token:
    """Always ask the token endpoint; under the lock, so the latest refresh token is sent."""
    with rt.store.lock(profile.name, profile.lock_timeout):
        return _refresh_locked(rt, profile, rt.store.read(profile.name))


def _refresh_locked(rt: World, profile: Profile, state: State | None) -> Token:
    from urllib.parse import urlsplit

    from oauthcli.wire import http
    from oauthcli.wire.request import build_request
    from oauthcli.wire.response import check_response

    configured = _configured_refresh_token(rt, profile)
    current = state.current_refresh_token(configured) if state else configured
    profile = with_discovery(rt, profile)
    request = build_request(profile, rt.resolver(profile, current))
    result = http.send(request, profile, rt.session, rt.sleep)
    host = urlsplit(request.url).hostname or "the token endpoint"
    data = check_response(result, profile, host)
    try:
        token = _token_from(data, profile, rt.clock())
    except OAuthCliError:
        _keep_rotated(rt, profile, state, data, configured)
        raise
    rotated = token.refresh_token or current
    rt.secrets.add_all([token.access_token, token.refresh_token, token.id_token])
    # Durably stored before success is reported: a rotated refresh token is never lost.
    expected = state.generation if state else 0
    rt.store.write(profile.name, State(token, rotated, fingerprint(configured)), expected)
    return token


def _keep_rotated(
    rt: World, profile: Profile, state: State | None, data: dict[str, Any], configured: str | None
) -> None:
    """An unusable answer may still carry a rotated refresh token: the old one is dead now."""
    from oauthcli.token import dig

    rotated = dig(data, profile.field_path("refresh_token"))
    if not isinstance(rotated, str) or not rotated:
        return
    rt.secrets.add(rotated)
    kept = state.token if state else Token("", expires_at=0.0, obtained_at=rt.clock())
    expected = state.generation if state else 0
    rt.store.write(profile.name, State(kept, rotated, fingerprint(configured)), expected)


def _token_from(data: dict[str, Any], profile: Profile, now: float) -> Token:
    from oauthcli.errors import BadResponseError

    token = Token.from_response(data, profile.response, now)
    if token is None:
        fields = ", ".join(sorted(str(k) for k in data)[:12]) or "none"
        path = profile.field_path("access_token")
        raise BadResponseError(
            f"the token endpoint answered without an access token at {path!r} (fields: {fields})",
            hint="if the token lives elsewhere, map it with response: {access_token: a.b}",
        )
    return token


def _configured_refresh_token(rt: World, profile: Profile) -> str | None:
    if profile.refresh_token is None:
        return None
    return rt.resolver(profile).resolve(profile.refresh_token, "refresh_token") or None


def current_refresh_token(rt: World, profile: Profile) -> str | None:
    """What ``${refresh_token}`` resolves to now (for dry runs and revocation)."""
    configured = _configured_refresh_token(rt, profile)
    state = rt.store.read(profile.name)
    return state.current_refresh_token(configured) if state else configured


def dry_run(rt: World, profile: Profile) -> str:
    """The request `refresh` would send, secrets redacted; nothing is sent."""
    from oauthcli.wire.request import build_request, describe

    current = current_refresh_token(rt, profile)
    if profile.token_url is None:
        raise ConfigError(
            f"profile {profile.name!r}: token_url comes from issuer discovery, "
            "which --dry-run does not perform",
            hint="set token_url explicitly to preview the request",
        )
    request = build_request(profile, rt.resolver(profile, current))
    return describe(request)


def with_discovery(rt: World, profile: Profile) -> Profile:
    """Fill token_url (and revocation_url) from the issuer's metadata when not given."""
    if profile.token_url or not profile.issuer:
        return profile
    from oauthcli.wire.discovery import discover

    metadata = discover(rt, profile)
    token_url = metadata.get("token_endpoint")
    if not isinstance(token_url, str):
        raise ConfigError(f"profile {profile.name!r}: the issuer's metadata has no token_endpoint")
    # The URL came from the network: escaped so that no reference in it is ever resolved.
    return replace(profile, token_url=token_url.replace("$", "$$"))


Outcome = tuple[str, "Token | OAuthCliError"]


def refresh_many(
    rt: World,
    names: list[str],
    on_done: Callable[[str, Token | OAuthCliError], None] | None = None,
    max_workers: int = 64,
) -> list[Outcome]:
    """Refresh several profiles concurrently over one pooled session; results in input order.

    A failure of one profile is returned in its place and does not hide the others' results.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(name: str) -> Token | OAuthCliError:
        try:
            result: Token | OAuthCliError = refresh(rt, rt.profile(name))
        except OAuthCliError as exc:
            result = exc
        if on_done:
            on_done(name, result)
        return result

    rt.session  # noqa: B018 - create the shared session before the threads race for it
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(names)))) as pool:
        return list(zip(names, pool.map(one, names), strict=True))
