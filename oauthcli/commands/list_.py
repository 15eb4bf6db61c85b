"""`oauthcli list`: profiles with token URL, method, description and stored-token status."""

from __future__ import annotations

from oauthcli.commands._common import check_format
from oauthcli.options import REPORT_FORMATS
from oauthcli.redact import redact_url
from oauthcli.render import json_line
from oauthcli.store.state import State
from oauthcli.token import iso8601
from oauthcli.worldtype import World


def list_profiles(world: World, fmt: str | None = None) -> None:
    """List the profiles: token URL, method, description and stored-token status."""
    check_format(fmt, REPORT_FORMATS)
    rows = [_row(world, name) for name in world.config.names]
    if fmt == "json" or (fmt is None and not world.output.stdout_is_terminal()):
        keys = ("profile", "token_url", "method", "description", "status")
        world.output.out("".join(json_line(dict(zip(keys, row, strict=True))) for row in rows))
        return
    world.output.table(
        None, ("profile", "token URL", "method", "description", "stored token"), rows
    )


def _row(rt: World, name: str) -> tuple[str, str, str, str, str]:
    merged = rt.config.merged(name)
    url = rt.secrets.redact_text(redact_url(str(merged.get("token_url") or _implicit_url(merged))))
    method = str(merged.get("method", "POST")).upper()
    return name, url, method, str(merged.get("description", "")), _status(rt, name, merged)


def _implicit_url(merged: dict[str, object]) -> str:
    if merged.get("issuer"):
        return f"(discovered from {merged['issuer']})"
    grant = merged.get("grant")
    if isinstance(grant, dict) and grant.get("type") == "google_service_account":
        return "(token_uri of the key file)"
    return "(none)"


def _status(rt: World, name: str, merged: dict[str, object]) -> str:
    from oauthcli.errors import OAuthCliError
    from oauthcli.grants.identity import state_name

    try:
        key = state_name(rt, rt.profile(name))
    except OAuthCliError:
        return "invalid profile"
    state = rt.store.inspect(key)
    if state == "absent":
        state = rt.store.inspect(name)  # written before grant identities
    if state == "absent":
        return "none"
    if isinstance(state, str):
        return state
    return describe_state(state, merged, rt.clock())


def describe_state(state: State, merged: dict[str, object], now: float) -> str:
    assume_ttl = merged.get("assume_ttl", 3600)
    ttl = float(assume_ttl) if isinstance(assume_ttl, (int, float)) else 3600.0
    expiry = state.token.effective_expiry(ttl)
    if expiry <= now:
        return f"expired {iso8601(expiry)}"
    guessed = "" if state.token.expires_at is not None else " (assumed)"
    return f"valid until {iso8601(expiry)}{guessed}"
