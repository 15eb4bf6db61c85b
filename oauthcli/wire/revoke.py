"""Forgetting stored tokens, and RFC 7009 revocation of the refresh token first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from oauthcli.config.model import Profile
from oauthcli.errors import ConfigError
from oauthcli.grants.driver import current_refresh_token
from oauthcli.grants.identity import read_state
from oauthcli.worldtype import World


def forget(rt: World, name: str, do_revoke: bool) -> str:
    """Delete the stored state; with ``do_revoke``, revoke at the provider first.

    ``name`` is a profile, or a stored grant's key (``profile@identity``, from `forget --all`).
    """
    from oauthcli.grants.identity import state_name

    profile_name, _, _ = name.partition("@")
    keys = [name] if "@" in name else [state_name(rt, rt.profile(name)), name]  # name: legacy
    if not do_revoke:
        deleted = [rt.store.delete(key) for key in keys]
        return "stored token deleted" if any(deleted) else "no stored token"
    profile = rt.profile(profile_name)
    with rt.store.lock(keys[0], profile.lock_timeout):
        revoked = revoke(rt, profile) + "; "
        deleted = [rt.store.delete(key) for key in keys]
    return revoked + ("stored token deleted" if any(deleted) else "no stored token")


def revoke(rt: World, profile: Profile) -> str:
    """POST token=<refresh token> to the revocation endpoint, authenticated as the client."""
    from oauthcli.wire import http
    from oauthcli.wire.request import TokenRequest, check_url
    from oauthcli.wire.response import check_response

    url = _revocation_url(rt, profile)
    state = read_state(rt, profile)
    token = current_refresh_token(rt, profile)
    hint = "refresh_token"
    if not token and state:
        token, hint = state.token.access_token, "access_token"
    if not token:
        return "nothing to revoke"
    resolver = rt.resolver(profile, token)
    check_url(url, profile, "revocation_url", rt.secrets)
    headers, body = client_auth(profile, resolver, url)
    body.update({"token": token, "token_type_hint": hint})
    request = TokenRequest("POST", url, headers, {}, _form(body), rt.secrets)
    result = http.send(request, profile, rt.session)
    host = urlsplit(url).hostname or url
    if result.status != 200:  # RFC 7009 §2.2: 200 whether or not the token was valid
        check_response(result, profile, host)
        raise _unexpected(host, result.status)
    return f"{hint.replace('_', ' ')} revoked at {host}"


def _revocation_url(rt: World, profile: Profile) -> str:
    from oauthcli.wire.discovery import endpoint

    url = endpoint(rt, profile, profile.revocation_url, "revocation_endpoint", "revocation_url")
    if url is None:
        raise ConfigError(
            f"profile {profile.name!r} has no revocation_url",
            hint="add revocation_url: (RFC 7009) or forget without --revoke",
        )
    return url


def client_auth(
    profile: Profile, resolver: Any, endpoint: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and form fields for a request authenticated as the token request is."""
    from oauthcli.wire.clientauth import authenticate
    from oauthcli.wire.request import FORM, JSON

    client = authenticate(profile, resolver, endpoint)
    return {"Content-Type": FORM, "Accept": JSON, **client.headers}, dict(client.fields)


def _form(body: Mapping[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(body).encode("ascii")


def _unexpected(host: str, status: int) -> Exception:
    from oauthcli.errors import ProviderError

    return ProviderError(f"{host} did not confirm the revocation: HTTP {status}", status=status)
