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
}


def grant_for(profile: Profile) -> Grant:
    kind = (profile.grant or {}).get("type", "refresh_token")
    if kind not in GRANTS:
        raise ConfigError(f"profile {profile.name!r}: grant.type {kind!r} is not available")
    flow: Grant = import_module(GRANTS[kind]).flow
    return flow
