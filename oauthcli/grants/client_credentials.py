"""RFC 6749 §4.4: the client's own token, authenticated per ``auth`` (no body to write)."""

from __future__ import annotations

from oauthcli.grants.base import Flow, GrantContext, exchange


def flow(context: GrantContext) -> Flow:
    from oauthcli.wire.request import build_request

    profile = context.profile
    body = {"grant_type": "client_credentials"}
    scope = (profile.grant or {}).get("scope") or profile.scope
    if scope:
        body["scope"] = str(scope)
    request = build_request(profile, context.resolver(), body)
    return (yield from exchange(request, profile))
