"""A Google service account's JSON key, exchanged for an access token (Google's flavour of the
RFC 7523 JWT bearer grant).

``grant: {type: google_service_account, key_file, scope, subject?}``. The key file (a path, or
the JSON itself, e.g. ``${env:GCP_SA_KEY}``) gives client_email, private_key, private_key_id
and token_uri; the assertion is RS256 with ``kid`` = private_key_id, ``iss`` = client_email,
``aud`` = token_uri, the ``scope`` claim, ``iat``, ``exp`` within the hour Google allows and
``sub`` = subject (domain-wide delegation). The request goes to token_uri: no token_url needed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from oauthcli import boundedjson
from oauthcli.errors import ConfigError
from oauthcli.grants.base import Flow, GrantContext, exchange
from oauthcli.grants.machine import form_body, scope, setting

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
LIFETIME = 1800  # Google allows exp up to 1 h after iat; half of it leaves room for clock skew
MAX_KEY_FILE = 64 * 1024
_WHERE = "grant.key_file"
HINTS = {  # error → what to check (wire.response shows them with the server's description)
    "invalid_grant": "the service-account assertion was refused: the key may be deleted or "
    "disabled, grant.subject not delegated to the account, or this machine's clock wrong",
    "invalid_scope": "grant.scope must be one or more Google OAuth scopes, space-separated",
    "unauthorized_client": "domain-wide delegation is not set up for this account and scope",
}


def flow(context: GrantContext) -> Flow:
    from oauthcli.wire.assertion import JWT_BEARER, claims, sign
    from oauthcli.wire.request import build_request

    profile = context.profile
    grant = profile.grant or {}
    resolver = context.resolver()
    info = read_key(setting(grant, "key_file", resolver, required=True) or "", profile.name)
    resolver.secrets.add(info["private_key"])
    token_uri = info["token_uri"]
    scopes = scope(grant, resolver, profile.scope)
    if not scopes:
        raise ConfigError(f"profile {profile.name!r}: grant.scope is required (Google needs it)")
    payload = claims(info["client_email"], token_uri, resolver.clock(),
                     sub=setting(grant, "subject", resolver), lifetime=LIFETIME)  # fmt: skip
    payload["scope"] = scopes
    kid = info.get("private_key_id") or None
    assertion = sign(payload, info["private_key"], "RS256", kid, (profile.name, _WHERE))
    resolver.secrets.add(assertion)
    body = form_body([("grant_type", JWT_BEARER), ("assertion", assertion)])
    url = resolver.resolve(profile.token_url, "token_url") if profile.token_url else token_uri
    request = build_request(profile, resolver, body, url=url)
    return (yield from exchange(request, profile))


def read_key(key_file: str, profile: str) -> dict[str, Any]:
    """The key's fields, checked: from a file, or from the JSON itself when it starts with {."""
    text = key_file if key_file.lstrip().startswith("{") else _read(key_file, profile)
    try:
        info = boundedjson.loads(text)
    except ValueError as exc:
        detail = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise _error(profile, f"is not valid JSON{detail}") from None
    if not isinstance(info, dict):
        raise _error(profile, "is not a JSON object")
    kind = info.get("type", "service_account")
    if kind != "service_account":
        raise _error(
            profile,
            f"is a {kind!r} credential, not a service-account key",
            "workload identity federation needs grant type token_exchange at sts.googleapis.com",
        )
    for name in ("client_email", "private_key"):
        if not isinstance(info.get(name), str) or not info[name]:
            raise _error(profile, f"has no {name}")
    info["token_uri"] = str(info.get("token_uri") or GOOGLE_TOKEN_URI)
    return info


def _read(path: str, profile: str) -> str:
    """A bounded read of a regular file (never a FIFO or device, never more than 64 KiB)."""
    full = Path(path).expanduser()
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _error(profile, f"{path} cannot be read: {exc.strerror or 'error'}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _error(profile, f"{path} is not a regular file")
        data = handle.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise _error(profile, f"{path} is larger than {MAX_KEY_FILE // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _error(profile, f"{path} is not UTF-8 text") from None


def _error(profile: str, problem: str, hint: str | None = None) -> ConfigError:
    return ConfigError(f"profile {profile!r}, field {_WHERE}: the key {problem}", hint=hint)
