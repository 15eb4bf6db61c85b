"""RFC 8693 token exchange: swap a token (a CI job's OIDC token, another access token) for one
from this token endpoint.

``grant: {type: token_exchange, subject_token, subject_token_type, actor_token?,
actor_token_type?, audience?, resource?, requested_token_type?, scope?}``; ``audience`` and
``resource`` may be lists (each value is sent). Token types are RFC 8693 §3 URNs; the short
names ``access_token``, ``refresh_token``, ``id_token``, ``jwt``, ``saml1``, ``saml2`` stand for
``urn:ietf:params:oauth:token-type:<name>``. Client authentication, if any, is the profile's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauthcli.config.refs import Resolver
from oauthcli.errors import ConfigError
from oauthcli.grants.base import Flow, GrantContext, exchange
from oauthcli.grants.machine import form_body, scope, setting, settings

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TOKEN_TYPE_PREFIX = "urn:ietf:params:oauth:token-type:"
SHORT_TYPES = ("access_token", "refresh_token", "id_token", "jwt", "saml1", "saml2")
_REFUSED = (
    "the token exchange was refused: check that the server trusts the subject token's issuer, "
    "that its audience is what the server expects, that it is fresh, and the token types"
)
HINTS = {  # error → what to check (wire.response shows them with the server's description)
    "invalid_request": _REFUSED,
    "invalid_grant": _REFUSED,
    "invalid_target": "the server will not issue a token for this audience or resource",
}


def token_type(value: str | None) -> str | None:
    """A token-type URN; the RFC 8693 §3 short names are expanded."""
    return TOKEN_TYPE_PREFIX + value if value in SHORT_TYPES else value


def flow(context: GrantContext) -> Flow:
    from oauthcli.wire.request import build_request

    profile = context.profile
    grant = profile.grant or {}
    resolver = context.resolver()
    pairs: list[tuple[str, str | None]] = [("grant_type", TOKEN_EXCHANGE)]
    pairs += [("resource", value) for value in settings(grant, "resource", resolver)]
    pairs += [("audience", value) for value in settings(grant, "audience", resolver)]
    pairs += [
        ("scope", scope(grant, resolver, profile.scope)),
        ("requested_token_type", token_type(setting(grant, "requested_token_type", resolver))),
        *_token(grant, "subject", resolver, required=True),
        *_token(grant, "actor", resolver, required=False),
    ]
    request = build_request(profile, resolver, form_body(pairs), url=None)
    return (yield from exchange(request, profile))


def _token(
    grant: Mapping[str, Any], role: str, resolver: Resolver, *, required: bool
) -> list[tuple[str, str | None]]:
    """``<role>_token`` and its ``<role>_token_type`` (required with the token, RFC 8693 §2.1)."""
    token = setting(grant, f"{role}_token", resolver, required=required)
    if token is None:
        if grant.get(f"{role}_token_type"):
            raise ConfigError(
                f"profile {resolver.profile!r}: grant.{role}_token_type without {role}_token"
            )
        return []
    resolver.secrets.add(token)
    kind = token_type(setting(grant, f"{role}_token_type", resolver, required=True))
    return [(f"{role}_token", token), (f"{role}_token_type", kind)]
