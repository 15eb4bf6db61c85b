"""Authorization server metadata (OpenID Connect discovery, then RFC 8414) and JWK Sets.

Both are fetched through ``http.send`` (SPEC §7: loopback-only http, no redirects, 1 MiB cap,
timeouts) and cached in the state dir as 0600 files with a TTL.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli.errors import BadResponseError, ConfigError, OAuthCliError, TransientError

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.wire.response import HttpResult
    from oauthcli.worldtype import World

log = logging.getLogger("oauthcli.discovery")

CACHE_TTL = 24 * 3600  # metadata changes rarely
JWKS_TTL = 3600  # keys rotate; an unknown kid also forces a refetch


def well_known_urls(issuer: str) -> list[str]:
    """OIDC appends to the issuer; RFC 8414 §3.1 inserts the well-known segment before the path."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{base}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{parts.path}",
    ]


def discover(rt: World, profile: Profile) -> dict[str, Any]:
    """The issuer's metadata, cached in the state dir for a day."""
    issuer = rt.resolver(profile).resolve(profile.issuer or "", "issuer")
    from oauthcli.wire.request import check_url

    check_url(issuer, profile, "issuer", rt.secrets)
    cached = read_cache(rt, "discovery", issuer, CACHE_TTL)
    if cached is not None:
        return cached
    errors: list[OAuthCliError] = []
    for url in well_known_urls(issuer):
        try:
            metadata = _fetch_metadata(rt, profile, url)
        except OAuthCliError as exc:
            errors.append(exc)
            continue
        _check_issuer(metadata, issuer, url)
        write_cache(rt, "discovery", issuer, metadata)
        return metadata
    transient = [e for e in errors if isinstance(e, TransientError)]
    if transient:  # the network failed: worth retrying, not a configuration problem
        raise transient[0]
    raise ConfigError(
        f"profile {profile.name!r}: no metadata found for issuer {issuer} "
        f"({'; '.join(e.message for e in errors)})",
        hint="set token_url (and the other endpoints) explicitly",
    )


def endpoint(
    rt: World, profile: Profile, explicit: str | None, key: str, where: str
) -> str | None:
    """An endpoint URL: the explicit setting wins, else the issuer's metadata ``key``, else None."""
    if explicit:
        return rt.resolver(profile).resolve(explicit, where)
    return discovered(rt, profile, key)


def discovered(rt: World, profile: Profile, key: str) -> str | None:
    """The issuer's metadata ``key`` (a URL, as published), or None without an issuer or such a
    key. It came from the network: whoever puts it into a profile field escapes it (``$$``)."""
    if not profile.issuer:
        return None
    value = discover(rt, profile).get(key)
    return value if isinstance(value, str) and value else None


def _fetch_metadata(rt: World, profile: Profile, url: str) -> dict[str, Any]:
    from oauthcli.wire.response import parse_body

    result = _get(rt, profile, url)
    data = parse_body(result) if result.status == 200 else None
    if data is None:
        what = f"HTTP {result.status}" if result.status != 200 else "no JSON object"
        raise BadResponseError(f"{url} answered {what}")
    return data


def _check_issuer(metadata: dict[str, Any], issuer: str, url: str) -> None:
    # RFC 8414 §3.3 wants them identical; some providers (multi-tenant "common" endpoints)
    # publish a template, so a mismatch is reported, not fatal.
    published = metadata.get("issuer")
    if isinstance(published, str) and published.rstrip("/") != issuer.rstrip("/"):
        log.warning("%s names issuer %s, not the configured %s", url, published, issuer)


def _get(rt: World, profile: Profile, url: str) -> HttpResult:
    from oauthcli.wire import http
    from oauthcli.wire.request import JSON, TokenRequest

    request = TokenRequest("GET", url, {"Accept": JSON}, {}, None, rt.secrets)
    return http.send(request, profile, rt.session, rt.sleep)


# --- JWK Sets ---------------------------------------------------------------------------------


def jwks(
    rt: World, profile: Profile, url: str, *, refetch: bool = False, where: str = "jwks_uri"
) -> tuple[dict[str, Any], bool]:
    """The JWK Set at ``url`` and whether it came from the network (not the cache).

    ``refetch`` bypasses the cache, for a ``kid`` the cached set does not know.
    """
    from oauthcli.wire.request import check_url
    from oauthcli.wire.response import check_response

    check_url(url, profile, where, rt.secrets)
    if not refetch:
        cached = read_cache(rt, "jwks", url, JWKS_TTL)
        if cached is not None:
            return cached, False
    result = _get(rt, profile, url)
    host = urlsplit(url).hostname or url
    data = check_response(result, profile, host)
    if not isinstance(data.get("keys"), list):
        raise BadResponseError(f"{url} is not a JWK Set (no 'keys' list)")
    write_cache(rt, "jwks", url, data)
    return data, True


def read_cache(rt: World, kind: str, key: str, ttl: float) -> dict[str, Any] | None:
    return rt.cache.get_fetched(kind, key, ttl, rt.clock())


def write_cache(rt: World, kind: str, key: str, document: dict[str, Any]) -> None:
    with contextlib.suppress(OSError, OAuthCliError, TypeError, ValueError):
        rt.cache.put_fetched(kind, key, document, rt.clock())
