"""`oauthcli list`: profiles with token URL, method, description and stored-token status."""

from __future__ import annotations

from oauthcli.commands._common import check_format
from oauthcli.options import REPORT_FORMATS
from oauthcli.redact import redact_url
from oauthcli.render import json_line
from oauthcli.store.state import State
from oauthcli.token import iso8601
from oauthcli.world import World


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
    url = redact_url(
        str(merged.get("token_url") or f"(discovered from {merged.get('issuer', '?')})")
    )
    method = str(merged.get("method", "POST")).upper()
    return name, url, method, str(merged.get("description", "")), _status(rt, name, merged)


def _status(rt: World, name: str, merged: dict[str, object]) -> str:
    state = rt.store.inspect(name)
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
