"""The grant a profile writes itself: the YAML request of SPEC §2, or the standard refresh.

A profile with a ``body`` sends exactly that body (references resolved). Without one, a POST
profile with ``auth`` or a refresh token sends the standard RFC 6749 §6 refresh request:
``grant_type=refresh_token``, the current refresh token, ``scope`` only with
``refresh_scope: true``; client authentication is added by wire.clientauth either way.
"""

from __future__ import annotations

from typing import Any

from oauthcli.config.model import Profile
from oauthcli.grants.base import Flow, GrantContext, exchange


def standard_refresh_body(profile: Profile, refresh_token: str | None) -> dict[str, Any] | None:
    """The RFC 6749 §6 body, for a POST profile with a refresh token or client auth configured
    (with neither, a profile without body is sent as written: a bare request)."""
    if profile.method != "POST" or (profile.auth is None and not refresh_token):
        return None
    body: dict[str, Any] = {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"}
    if profile.refresh_scope and profile.scope:
        body["scope"] = profile.scope
    return body


def flow(context: GrantContext) -> Flow:
    from oauthcli.wire.request import build_request

    profile = context.profile
    body = profile.body
    if body is None:
        body = standard_refresh_body(profile, context.refresh_token)
    request = build_request(profile, context.resolver(), body)
    return (yield from exchange(request, profile))
