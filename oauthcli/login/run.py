"""`oauthcli login`: run a login flow and store its tokens as `refresh` stores them (SPEC §9).

The store proves it can take the result before anything is spent (driver.preflight: before
the browser opens, so before the code exchange and the device polls); the answer goes through
the one writer under the grant's lock (driver.adopt), so `${refresh_token}` resolves to the new
refresh token from then on. A login that fails stores nothing, and an earlier grant stays.
The lock is not held while a person signs in: that may take minutes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from oauthcli.errors import ConfigError, UsageError
from oauthcli.grants.base import GrantContext
from oauthcli.grants.driver import adopt, preflight, send_all, with_discovery
from oauthcli.login.context import LoginContext, LoginUI

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.token import Token
    from oauthcli.worldtype import World

FLOWS = {"browser": "oauthcli.grants.authcode", "device": "oauthcli.grants.device"}
DEFAULT_TIMEOUT = 300.0


def login(
    world: World, profile: Profile, ui: LoginUI, *, device: bool = False,
    timeout: float | None = None,
) -> Token:  # fmt: skip
    """Sign in interactively (browser, or device code with ``device``) and store the tokens."""
    seconds = timeout_seconds(timeout)
    kind = flow_kind(profile, device)
    deadline = world.clock() + seconds
    preflight(world, profile)  # a grant is never spent that cannot be stored…
    if profile.refresh_token:  # …nor one whose storing would fail on an unset reference
        world.resolver(profile).resolve(profile.refresh_token, "refresh_token")
    discovered = with_discovery(world, profile)
    context = LoginContext(GrantContext(world, discovered, None), ui, deadline, seconds)
    data = send_all(world, discovered, import_module(FLOWS[kind]).flow(context), deadline)
    return adopt(world, profile, data)  # the profile as configured: its grant identity


def timeout_seconds(timeout: float | None) -> float:
    seconds = DEFAULT_TIMEOUT if timeout is None else timeout
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--timeout must be a positive number of seconds, not {seconds:g}")
    return seconds


def flow_kind(profile: Profile, device: bool) -> str:
    """``device`` or ``browser``: --device, else ``login.flow`` (default browser)."""
    kind = (profile.grant or {}).get("type", "refresh_token")
    if kind != "refresh_token":
        raise ConfigError(
            f"profile {profile.name!r} uses grant.type {kind}: it needs no login",
            hint=f"oauthcli obtains its tokens by itself: run oauthcli token {profile.name}",
        )
    flow = (profile.login or {}).get("flow", "browser")
    if flow not in FLOWS:
        raise ConfigError(f"profile {profile.name!r}, field login.flow: expected 'browser' or "
                          f"'device', got {flow!r}")  # fmt: skip
    return "device" if device else str(flow)
