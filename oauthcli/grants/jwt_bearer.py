"""RFC 7523 §2.1: a JWT signed with the profile's key is the grant itself.

``grant: {type: jwt_bearer, key, iss, sub?, aud?, alg?, kid?, scope?, claims?}``: the assertion
has ``iss``, ``sub`` (when given), ``aud`` (default: the token endpoint), a random ``jti``,
``iat`` and a short ``exp``; ``claims`` adds or overrides claims. Salesforce's JWT bearer flow is
this grant (iss = the consumer key, sub = the username, aud = https://login.salesforce.com).
A fresh assertion is signed for every request; there is no refresh token to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauthcli.errors import ConfigError
from oauthcli.grants.base import Flow, GrantContext, exchange
from oauthcli.grants.machine import form_body, resolved_tree, scope, setting

HINTS = {  # error → what to check (wire.response shows them with the server's description)
    "invalid_grant": "the signed assertion was refused: check grant.iss, grant.sub and grant.aud, "
    "that the server has this key's public key for the issuer (and kid), and this machine's clock",
}


def flow(context: GrantContext) -> Flow:
    from oauthcli.wire.assertion import JWT_BEARER
    from oauthcli.wire.request import build_request

    profile = context.profile
    grant = profile.grant or {}
    resolver = context.resolver()
    token_url = resolver.resolve(profile.token_url or "", "token_url")
    assertion = signed_assertion(grant, resolver, token_url)
    body = form_body(
        [
            ("grant_type", JWT_BEARER),
            ("assertion", assertion),
            ("scope", scope(grant, resolver, profile.scope)),
        ]
    )
    request = build_request(profile, resolver, body, url=token_url)
    return (yield from exchange(request, profile))


def signed_assertion(grant: Mapping[str, Any], resolver: Any, token_url: str) -> str:
    from oauthcli.wire.assertion import claims, sign

    key = setting(grant, "key", resolver, required=True)
    assert key is not None
    resolver.secrets.add(key)
    issuer = setting(grant, "iss", resolver, required=True)
    assert issuer is not None
    audience = setting(grant, "aud", resolver) or token_url
    payload = claims(issuer, audience, resolver.clock(), sub=setting(grant, "sub", resolver))
    extra = grant.get("claims")
    if extra is not None and not isinstance(extra, Mapping):
        raise ConfigError(f"profile {resolver.profile!r}: grant.claims must be a mapping")
    payload.update(resolved_tree(extra or {}, resolver, "grant.claims"))
    alg, kid = setting(grant, "alg", resolver), setting(grant, "kid", resolver)
    assertion = sign(payload, key, alg, kid, (resolver.profile, "grant.key"))
    resolver.secrets.add(assertion)
    return assertion
