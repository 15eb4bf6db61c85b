"""Authorization server metadata: OpenID Connect discovery, then RFC 8414."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli.errors import BadResponseError, ConfigError, OAuthCliError

if TYPE_CHECKING:
    from oauthcli.flow import Runtime
    from oauthcli.profiles import Profile

CACHE_TTL = 24 * 3600


def well_known_urls(issuer: str) -> list[str]:
    """OIDC appends to the issuer; RFC 8414 §3.1 inserts the well-known segment before the path."""
    base = issuer.rstrip("/")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{base}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{parts.path}",
    ]


def discover(rt: Runtime, profile: Profile) -> dict[str, Any]:
    """The issuer's metadata, cached in the state dir for a day."""
    from oauthcli import http

    issuer = rt.resolver(profile).resolve(profile.issuer or "", "issuer")
    http.check_url(issuer, profile, "issuer")
    cached = _read_cache(rt, issuer)
    if cached is not None:
        return cached
    last_error: OAuthCliError | None = None
    for url in well_known_urls(issuer):
        request = http.TokenRequest("GET", url, {"Accept": http.JSON})
        try:
            result = http.send(request, profile, rt.session)
        except OAuthCliError as exc:
            last_error = exc
            continue
        if result.status == 200:
            data = http.parse_body(result)
            if isinstance(data, dict):
                _write_cache(rt, issuer, data)
                return data
        last_error = BadResponseError(f"{url} answered HTTP {result.status}")
    if last_error and last_error.exit_code == 5:
        raise last_error
    raise ConfigError(
        f"profile {profile.name!r}: no metadata found for issuer {issuer}",
        hint="set token_url (and the other endpoints) explicitly",
    )


def _cache_path(rt: Runtime, issuer: str) -> Path:
    import hashlib

    digest = hashlib.sha256(issuer.encode()).hexdigest()[:16]
    return rt.store.directory / f".discovery-{digest}.json"


def _read_cache(rt: Runtime, issuer: str) -> dict[str, Any] | None:
    try:
        with open(_cache_path(rt, issuer), encoding="utf-8") as handle:
            cached = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or time.time() - cached.get("fetched_at", 0) > CACHE_TTL:
        return None
    metadata = cached.get("metadata")
    return metadata if isinstance(metadata, dict) else None


def _write_cache(rt: Runtime, issuer: str, metadata: dict[str, Any]) -> None:
    payload = json.dumps({"fetched_at": time.time(), "metadata": metadata})
    rt.store.write_text(_cache_path(rt, issuer), payload)
