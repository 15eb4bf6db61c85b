"""The grant driver: read the store, take the lock, run a grant once, store before reporting.

`obtain` is the path of `token`, `env` and `exec`: when the stored token is fresh it touches
neither the network nor `requests` (SPEC §8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oauthcli.config.model import Profile
from oauthcli.errors import ConfigError, OAuthCliError, ProviderError, UsageError
from oauthcli.grants.base import Flow, Grant, GrantContext
from oauthcli.grants.identity import read_state, state_name
from oauthcli.grants.locking import locked
from oauthcli.grants.registry import grant_for, hint_for
from oauthcli.store.base import Lease
from oauthcli.store.state import State, fingerprint
from oauthcli.token import Token

log = logging.getLogger("oauthcli")

if TYPE_CHECKING:
    from oauthcli.worldtype import World


def is_fresh(state: State | None, profile: Profile, now: float, min_valid: float | None) -> bool:
    """Reusable: more than ``min_valid`` seconds left, the margin capped at half the lifetime so
    a token that lives no longer than ``min_valid`` is still reused for part of it (SPEC §13)."""
    if state is None or not state.token.access_token:
        log.debug("no stored access token: refreshing")
        return False
    token = state.token
    wanted = profile.min_valid if min_valid is None else min_valid
    expiry = token.effective_expiry(profile.assume_ttl)
    margin = min(wanted, max(0.0, expiry - token.obtained_at) / 2)
    left = expiry - now
    fresh = left > margin
    capped = f" (capped at half its lifetime from {wanted:g}s)" if margin < wanted else ""
    verdict = "reusing it" if fresh else "refreshing"
    log.debug("stored token has %.0fs left, margin %gs%s: %s", left, margin, capped, verdict)
    return fresh


def obtain(
    rt: World, profile: Profile, *, min_valid: float | None = None, force: bool = False,
    rejected: str | None = None,
) -> Token:  # fmt: skip
    """A token with more than ``min_valid`` seconds left: stored, or refreshed (once).
    ``rejected`` (refused by a server: a 401) is refreshed unless, under the lock, another
    fresh token replaced it: processes refused at once refresh once between them."""
    if min_valid is not None and not 0 <= min_valid < float("inf"):
        raise UsageError(f"--min-valid must be a finite number of seconds, not {min_valid:g}")
    if not force:
        state = read_state(rt, profile, cached=True)  # a shared store: this machine's copy
        if not is_fresh(state, profile, rt.clock(), min_valid):
            state = read_state(rt, profile)
        if is_fresh(state, profile, rt.clock(), min_valid):
            assert state is not None
            rt.secrets.add(state.token.access_token)
            return state.token
    else:
        log.debug("--force: refreshing whatever is stored")
    with locked(rt, profile) as lease:
        state = read_state(rt, profile, migrate=True)  # another process may have refreshed
        replaced = rejected and state and state.token.access_token not in (rejected, "")
        if (replaced or not force) and is_fresh(state, profile, rt.clock(), min_valid):
            assert state is not None
            if replaced:
                log.debug("the refused token was replaced meanwhile: using the new one")
            rt.secrets.add(state.token.access_token)
            return state.token
        return _run(rt, profile, state, grant_for(profile), lease)


def refresh(rt: World, profile: Profile) -> Token:
    """Always ask the token endpoint; under the lock, so the latest refresh token is sent."""
    return drive(rt, profile, grant_for(profile))


def drive(rt: World, profile: Profile, grant: Grant) -> Token:
    """Run ``grant`` under the profile's lock against the latest state, and persist its result.

    The one path by which any grant (refresh, machine grants, login) reaches the token endpoint.
    """
    with locked(rt, profile) as lease:
        return _run(rt, profile, read_state(rt, profile, migrate=True), grant, lease)


def _run(rt: World, profile: Profile, state: State | None, grant: Grant, lease: Lease) -> Token:
    configured = _configured_refresh_token(rt, profile)
    current = state.current_refresh_token(configured) if state else configured
    name = preflight(rt, profile)  # a grant is never spent that cannot be stored
    profile = with_discovery(rt, profile)
    try:
        data = send_all(rt, profile, grant(GrantContext(rt, profile, current)), lease=lease)
    except ProviderError as exc:
        kept = _kept_refresh_token(rt, name, exc, current)
        if kept is None:
            raise
        log.debug("the refresh token was refused; retrying once with the one kept locally")
        data = send_all(rt, profile, grant(GrantContext(rt, profile, kept)), lease=lease)
    return persist(rt, name, profile, state, data, configured)


def _kept_refresh_token(rt: World, name: str, exc: ProviderError, sent: str | None) -> str | None:
    """After ``invalid_grant``: the refresh token an earlier run could not store, if different
    (SPEC §10: a lost compare-and-swap keeps the rotated tokens locally; this is their use)."""
    if exc.error != "invalid_grant":
        return None
    kept = rt.store.kept(name)
    token = kept.rotated_refresh_token if kept else None
    return token if token and token != sent else None


def preflight(rt: World, profile: Profile) -> str:
    """Prove the store can take a result before a grant is spent; the grant's store key."""
    name = state_name(rt, profile)
    rt.store.check_writable(name)
    return name


def adopt(rt: World, profile: Profile, data: dict[str, Any]) -> Token:
    """Store a token answer obtained outside ``drive`` (login's interactive flows), under the
    grant's lock, over whatever is stored: the one writer, as for every other grant."""
    name = state_name(rt, profile)
    with locked(rt, profile):
        state = read_state(rt, profile, migrate=True)
        return persist(rt, name, profile, state, data, _configured_refresh_token(rt, profile))


def send_all(
    rt: World,
    profile: Profile,
    flow: Flow,
    deadline: float | None = None,
    lease: Lease | None = None,
) -> dict[str, Any]:
    """Drive a grant's flow: send each request it yields, hand back each answer. With a
    ``deadline`` (on ``rt.clock``: login's --timeout) no request outlives it; with a ``lease``
    (a shared store's lock) none is sent unless the lease outlasts it."""
    from oauthcli.wire import http

    try:
        request = next(flow)
        while True:
            bounded = _within(rt, profile, deadline)
            if lease is not None:
                lease.ensure(bounded.timeout * (bounded.retries + 1) + 1.0)
            result = http.send(request, bounded, rt.session, rt.sleep)
            try:
                request = flow.send(result)
            except StopIteration as done:
                data: dict[str, Any] = done.value
                return data
    except ProviderError as exc:  # the grant's own hint, where it has one (grants.registry)
        exc.hint = (hint_for(profile, exc.error) if exc.error else None) or exc.hint
        raise


def _within(rt: World, profile: Profile, deadline: float | None) -> Profile:
    if deadline is None:
        return profile
    left = deadline - rt.clock()
    if left <= 0:
        from oauthcli.errors import TransientError

        raise TransientError("out of time before the next request could be sent")
    return profile._replace(timeout=min(profile.timeout, left))


def persist(
    rt: World,
    name: str,
    profile: Profile,
    state: State | None,
    data: dict[str, Any],
    configured: str | None,
) -> Token:
    """The one writer: the token is durably stored before success is reported, and a rotated
    refresh token is never lost (kept even when the rest of the answer is unusable)."""
    expected = state.generation if state else 0
    try:
        token = _token_from(data, profile, rt.clock())
    except OAuthCliError:
        _keep_rotated(rt, name, profile, state, data, configured)
        raise
    rt.secrets.add_all([token.access_token, token.refresh_token, token.id_token])
    previous = state.current_refresh_token(configured) if state else configured
    rotated = token.refresh_token or previous
    rt.store.write(name, State(token, rotated, fingerprint(configured)), expected)
    return token


def _keep_rotated(
    rt: World,
    name: str,
    profile: Profile,
    state: State | None,
    data: dict[str, Any],
    configured: str | None,
) -> None:
    """An unusable answer may still carry a rotated refresh token: the old one is dead now."""
    from oauthcli.token import dig

    rotated = dig(data, profile.field_path("refresh_token"))
    if not isinstance(rotated, str) or not rotated:
        return
    rt.secrets.add(rotated)
    kept = state.token if state else Token("", expires_at=0.0, obtained_at=rt.clock())
    expected = state.generation if state else 0
    rt.store.write(name, State(kept, rotated, fingerprint(configured)), expected)


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
    state = read_state(rt, profile)
    return state.current_refresh_token(configured) if state else configured


def dry_run(rt: World, profile: Profile) -> str:
    """The requests a grant would send, secrets redacted; nothing is sent."""
    from oauthcli.wire.request import describe

    if profile.token_url is None and profile.issuer:
        raise ConfigError(
            f"profile {profile.name!r}: token_url comes from issuer discovery, "
            "which --dry-run does not perform",
            hint="set token_url explicitly to preview the request",
        )
    rt.id_tokens.preview = True  # nothing is sent: no ${github_oidc:} token is fetched either
    context = GrantContext(rt, profile, current_refresh_token(rt, profile))
    return describe(next(grant_for(profile)(context)))


def with_discovery(rt: World, profile: Profile) -> Profile:
    """Fill token_url from the issuer's metadata when not given."""
    if profile.token_url or not profile.issuer:
        return profile
    from oauthcli.wire.discovery import discovered

    token_url = discovered(rt, profile, "token_endpoint")
    if token_url is None:
        raise ConfigError(f"profile {profile.name!r}: the issuer's metadata has no token_endpoint")
    # From the network: escaped, so that no reference in it is ever resolved.
    return profile._replace(token_url=token_url.replace("$", "$$"))


Outcome = tuple[str, "Token | OAuthCliError"]


def refresh_many(
    rt: World,
    names: list[str],
    on_done: Callable[[str, Token | OAuthCliError], None] | None = None,
    max_workers: int = 100,  # 200 profiles in two waves: more threads convoy on the GIL
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

    workers = max(1, min(max_workers, len(names)))
    rt.connections = max(rt.connections, workers)
    rt.session  # noqa: B018 - create the shared session before the threads race for it
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(zip(names, pool.map(one, names), strict=True))
