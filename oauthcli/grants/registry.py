"""The grant registry: ``GRANTS`` maps ``grant.type`` of a profile to the module whose ``flow``
runs it; a profile without ``grant`` runs the template grant (its own YAML request, or the
standard refresh). A new grant is one module plus one line here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.grants.base import Grant

GRANTS = {  # grant.type → module with `flow(context) -> Flow`
    "refresh_token": "oauthcli.grants.template",
    "client_credentials": "oauthcli.grants.client_credentials",
    "jwt_bearer": "oauthcli.grants.jwt_bearer",
    "google_service_account": "oauthcli.grants.google_service_account",
    "token_exchange": "oauthcli.grants.token_exchange",
}


def grant_for(profile: Profile) -> Grant:
    kind = (profile.grant or {}).get("type", "refresh_token")
    if kind not in GRANTS:
        raise ConfigError(f"profile {profile.name!r}: grant.type {kind!r} is not available")
    flow: Grant = import_module(GRANTS[kind]).flow
    return flow


def hint_for(profile: Profile, error: str) -> str | None:
    """What to check when the server answers ``error``: the client authentication's hint (a
    module's ``HINTS``), else the grant's; None leaves the generic one."""
    from oauthcli.wire.clientauth import hint_for as auth_hint

    kind = (profile.grant or {}).get("type", "refresh_token")
    hints = getattr(import_module(GRANTS[kind]), "HINTS", {}) if kind in GRANTS else {}
    found: str | None = auth_hint(profile, error) or hints.get(error)
    return found
