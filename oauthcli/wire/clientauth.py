"""Client authentication: one registry for every request a profile makes (SPEC §9, §12).

The token request, login's code exchange and device requests, introspection and revocation all
authenticate through ``authenticate``. A method returns the headers and the form fields it adds;
a new method is one function plus one line in ``METHODS``. ``private_key_jwt`` signs a fresh
assertion for every request (so each has its own ``jti``); ``client_assertion`` sends one
obtained elsewhere (a CI system's OIDC token: workload identity federation).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from urllib.parse import quote_plus

from oauthcli.config.model import Profile
from oauthcli.config.refs import Resolver
from oauthcli.errors import ConfigError


class ClientAuth:
    """What a method adds to a request: headers and form fields."""

    def __init__(
        self, headers: dict[str, str] | None = None, fields: dict[str, str] | None = None
    ) -> None:
        self.headers = {} if headers is None else headers
        self.fields = {} if fields is None else fields


Method = Callable[[Mapping[str, str], Resolver, str], ClientAuth]


def _resolve(auth: Mapping[str, str], key: str, resolver: Resolver) -> str:
    value = auth.get(key)
    if not isinstance(value, str):
        raise ConfigError(f"profile {resolver.profile!r}: auth.{key} is required")
    return resolver.resolve(value, f"auth.{key}")


def basic(auth: Mapping[str, str], resolver: Resolver, endpoint: str) -> ClientAuth:
    """RFC 6749 §2.3.1: each part form-urlencoded, then base64 of ``id:secret``."""
    client_id = _resolve(auth, "client_id", resolver)
    secret = _resolve(auth, "client_secret", resolver)
    resolver.secrets.add(secret)
    raw = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}"
    credential = base64.b64encode(raw.encode("utf-8")).decode("ascii")
    resolver.secrets.add(credential)
    return ClientAuth(headers={"Authorization": f"Basic {credential}"})


def post(auth: Mapping[str, str], resolver: Resolver, endpoint: str) -> ClientAuth:
    """RFC 6749 §2.3.1: client_id and client_secret in the request body."""
    secret = _resolve(auth, "client_secret", resolver)
    resolver.secrets.add(secret)
    return ClientAuth(fields={"client_id": _resolve(auth, "client_id", resolver),
                              "client_secret": secret})  # fmt: skip


def none(auth: Mapping[str, str], resolver: Resolver, endpoint: str) -> ClientAuth:
    """A public client (RFC 6749 §2.1): it identifies itself, it does not authenticate."""
    return ClientAuth(fields={"client_id": _resolve(auth, "client_id", resolver)})


def private_key_jwt(auth: Mapping[str, str], resolver: Resolver, endpoint: str) -> ClientAuth:
    """RFC 7523 §2.2: a JWT signed with the client's key, iss = sub = client_id, aud = the
    configured audience or the endpoint the request goes to."""
    from oauthcli.wire.assertion import CLIENT_ASSERTION_TYPE, claims, sign

    client_id = _resolve(auth, "client_id", resolver)
    key = _resolve(auth, "key", resolver)
    resolver.secrets.add(key)
    audience = _optional(auth, "audience", resolver) or endpoint
    payload = claims(client_id, audience, resolver.clock(), sub=client_id)
    alg, kid = _optional(auth, "alg", resolver), _optional(auth, "kid", resolver)
    assertion = sign(payload, key, alg, kid, (resolver.profile, "auth.key"))
    resolver.secrets.add(assertion)
    return ClientAuth(fields={"client_id": client_id,
                              "client_assertion_type": CLIENT_ASSERTION_TYPE,
                              "client_assertion": assertion})  # fmt: skip


def client_assertion(auth: Mapping[str, str], resolver: Resolver, endpoint: str) -> ClientAuth:
    """An assertion obtained elsewhere, e.g. ``${github_oidc:api://AzureADTokenExchange}``: the
    Microsoft Entra federated-credential shape (client_id + the assertion)."""
    from oauthcli.wire.assertion import CLIENT_ASSERTION_TYPE

    client_id = _resolve(auth, "client_id", resolver)
    assertion = _resolve(auth, "assertion", resolver).strip()
    if not assertion:
        raise ConfigError(f"profile {resolver.profile!r}, field auth.assertion: it is empty")
    resolver.secrets.add(assertion)
    return ClientAuth(fields={"client_id": client_id,
                              "client_assertion_type": CLIENT_ASSERTION_TYPE,
                              "client_assertion": assertion})  # fmt: skip


def _optional(auth: Mapping[str, str], key: str, resolver: Resolver) -> str | None:
    value = auth.get(key)
    return resolver.resolve(value, f"auth.{key}") or None if isinstance(value, str) else None


METHODS: dict[str, Method] = {
    "basic": basic,
    "post": post,
    "none": none,
    "private_key_jwt": private_key_jwt,
    "client_assertion": client_assertion,
}


HINTS: dict[tuple[str, str], str] = {  # (auth.type, error) → what to check
    ("private_key_jwt", "invalid_client"): "the signed client assertion was refused: check that "
    "the server has this key's public key (and kid) for auth.client_id, that alg fits, that "
    "auth.audience is what it expects (default: the endpoint URL), and this machine's clock",
    ("client_assertion", "invalid_client"): "the client assertion was refused: its issuer, "
    "subject and audience must match the federated credential of auth.client_id (for GitHub "
    "Actions: the repository and branch or environment, and the audience), and it must be fresh",
}


def hint_for(profile: Profile, error: str) -> str | None:
    kind = profile.auth.get("type", "basic") if profile.auth else None
    return HINTS.get((kind, error)) if kind else None


def authenticate(profile: Profile, resolver: Resolver, endpoint: str) -> ClientAuth:
    """How this profile's client authenticates to ``endpoint`` (token, introspection, …)."""
    if profile.auth is None:
        return _from_body(profile, resolver)
    method = METHODS.get(profile.auth.get("type", "basic"))
    if method is None:
        raise ConfigError(f"profile {profile.name!r}: unknown auth.type {profile.auth['type']!r}")
    return method(profile.auth, resolver, endpoint)


def _from_body(profile: Profile, resolver: Resolver) -> ClientAuth:
    """No ``auth``: a hand-written body may carry client_id/client_secret; other requests of the
    profile (introspection, revocation) authenticate with the same fields."""
    found = ClientAuth()
    if isinstance(profile.body, Mapping):
        for key in ("client_id", "client_secret"):
            if isinstance(profile.body.get(key), str):
                found.fields[key] = resolver.resolve(profile.body[key], f"body.{key}")
    return found


def client_id(profile: Profile, resolver: Resolver) -> str | None:
    """The profile's client id (for login, and the grant identity), wherever it is written."""
    if profile.auth and isinstance(profile.auth.get("client_id"), str):
        return resolver.resolve(profile.auth["client_id"], "auth.client_id")
    return _from_body(profile, resolver).fields.get("client_id")
