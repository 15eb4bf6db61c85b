"""The device authorization grant (RFC 8628): `login --device` (SPEC §9).

POST client_id and scope (plus client authentication, and ``login.device_params``) to the
device authorization endpoint; show the person where to go and the code to enter; then poll
the token endpoint, waiting ``interval`` (default 5 s) before the first poll and between
polls through ``world.sleep``. ``authorization_pending`` polls on, ``slow_down`` adds 5 s to
every later wait; any other error ends the login (exit 4). Providers that answer these with
HTTP 200 (GitHub) arrive here the same way, as wire.response finds the error in the body.
Past ``expires_in`` or --timeout: exit 5.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oauthcli.errors import BadResponseError, ConfigError, ProviderError, TransientError
from oauthcli.grants.base import Flow, exchange
from oauthcli.login.context import LoginContext, client_id, login_request, relabel
from oauthcli.safetext import printable

log = logging.getLogger("oauthcli.login")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5.0
SLOW_DOWN = 5.0
HINTS = {
    "access_denied": "the code was refused at the provider; run oauthcli login --device again",
    "authorization_declined": "the code was refused at the provider; run oauthcli login "
    "--device again",  # Microsoft Entra
    "expired_token": "the code expired before it was approved: run oauthcli login --device "
    "again and approve it in time",
    "invalid_grant": "the device code was refused (expired, used, or issued to another "
    "client): run oauthcli login --device again",
    "unauthorized_client": "this client may not use the device flow: enable it in the app's "
    "settings at the provider",
    "invalid_client": "check auth (client_id, and client_secret if any) against the app's "
    "settings; some providers allow the device flow for public clients only",
}


@dataclass(frozen=True)
class DeviceGrant:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float
    expires_at: float  # on the world's clock; inf when the provider gave no expires_in


def flow(login: LoginContext) -> Flow:
    url = _endpoint(login)
    try:
        data = yield from exchange(_authorization_request(login, url), login.profile)
    except ProviderError as exc:
        raise relabel(exc, HINTS) from None
    grant = device_grant(data, login.world.clock(), urlsplit(url).hostname or url)
    login.world.secrets.add(grant.device_code)
    _show(login, grant)
    return (yield from _poll(login, grant))


def _endpoint(login: LoginContext) -> str:
    from oauthcli.wire.request import check_url

    url = login.endpoint("device_authorization_url", "device_authorization_endpoint")
    if not url:
        raise ConfigError(
            f"profile {login.profile.name!r}: no device authorization endpoint",
            hint="set login.device_authorization_url, or issuer: for discovery; "
            "without one, log in with the browser (no --device)",
        )
    check_url(url, login.profile, "login.device_authorization_url", login.world.secrets)
    return url


def _authorization_request(login: LoginContext, url: str) -> Any:
    profile = login.profile
    extra: Any = (profile.login or {}).get("device_params") or {}
    if not isinstance(extra, dict):
        raise ConfigError(f"profile {profile.name!r}, field login.device_params: expected a "
                          "mapping of strings")  # fmt: skip
    templates = {str(k): str(v) for k, v in extra.items()}
    if profile.scope:
        templates["scope"] = profile.scope
    # client_id always: RFC 8628 §3.1 wants it, and DOT (oauthlib) even beside HTTP Basic
    return login_request(login, {"client_id": client_id(login)}, url=url, templates=templates)


def device_grant(data: dict[str, Any], now: float, host: str) -> DeviceGrant:
    """The device authorization response (RFC 8628 §3.2), checked."""
    uri = data.get("verification_uri") or data.get("verification_url")  # older Google name
    found = {"device_code": data.get("device_code"), "user_code": data.get("user_code"),
             "verification_uri": uri}  # fmt: skip
    missing = [k for k, v in found.items() if not isinstance(v, str) or not v.strip()]
    if missing:
        raise BadResponseError(f"{host} answered the device authorization without "
                               f"{', '.join(missing)}")  # fmt: skip
    complete = data.get("verification_uri_complete")
    expires_in = _seconds(data.get("expires_in"))
    return DeviceGrant(
        found["device_code"], found["user_code"], uri,  # type: ignore[arg-type]
        complete if isinstance(complete, str) and complete.strip() else None,
        max(1.0, _seconds(data.get("interval")) or DEFAULT_INTERVAL),
        now + expires_in if expires_in else math.inf,
    )  # fmt: skip


def _seconds(value: Any) -> float | None:
    """A positive number of seconds (int or numeric string), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 1e7 else None


def _show(login: LoginContext, grant: DeviceGrant) -> None:
    lines = [f"To sign in to profile {login.profile.name!r}, open "
             f"{printable(grant.verification_uri, 500)}",
             f"and enter the code: {printable(grant.user_code, 100)}"]  # fmt: skip
    if grant.verification_uri_complete:
        shown = printable(grant.verification_uri_complete, 500)
        lines.append(f"(or open {shown}, which carries the code)")
    login.ui.instruct("\n".join(lines))
    left = min(login.remaining(), grant.expires_at - login.world.clock())
    login.ui.note(f"Waiting up to {max(0.0, left):.3g}s for the code to be approved …")


def _poll(login: LoginContext, grant: DeviceGrant) -> Flow:
    interval = grant.interval
    while True:
        _pause(login, interval, grant)
        fields = {"grant_type": GRANT_TYPE, "device_code": grant.device_code}
        try:
            return (yield from exchange(login_request(login, fields), login.profile))
        except ProviderError as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN
                log.debug("slow_down: polling every %gs from now on", interval)
                continue
            raise relabel(exc, HINTS) from None


def _pause(login: LoginContext, seconds: float, grant: DeviceGrant) -> None:
    """Wait before the next poll; past the code's expiry or --timeout, give up (exit 5)."""
    world = login.world
    left = min(login.deadline, grant.expires_at) - world.clock()
    if seconds <= left:
        world.sleep(seconds)
        return
    world.sleep(max(0.0, left))
    if grant.expires_at < login.deadline:
        raise TransientError(
            "the device code expired before it was approved",
            hint="run oauthcli login --device again and approve the code in time",
        )
    raise login.timed_out("waiting for the code to be approved")
