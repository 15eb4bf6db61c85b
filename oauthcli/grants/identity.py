"""The identity of a stored grant (SPEC §10, §13): profile name + token endpoint + client id.

State is keyed ``<profile>@<digest>`` so that two profiles files using one profile name for
different grants (two projects, each with an ``./oauthcli.yaml`` saying ``corp``) never read or
overwrite each other's refresh token, while the same profile on many machines shares one state.
A stored refresh token therefore only ever goes back to the endpoint and client it came from.

Computed on the cached `token` path, so it resolves only cheap references (``${env:}``,
``${file:}``); a ``${cmd:}`` is hashed as written. blake2b is the C builtin, not OpenSSL's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.config.model import Profile
    from oauthcli.store.state import State
    from oauthcli.worldtype import World


def _digest(text: str) -> str:
    try:
        from _blake2 import blake2b  # the builtin; hashlib would start OpenSSL (≈ 4 ms)
    except ImportError:  # pragma: no cover - other Pythons
        from hashlib import blake2b
    return blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def _cheap(world: World, profile: Profile, value: Any, where: str) -> str:
    if not isinstance(value, str):
        return ""
    if "${cmd:" in value or "${github_oidc:" in value:
        return value
    try:
        return world.resolver(profile).resolve(value, where)
    except ConfigError:
        return value  # unresolvable here: the request itself will say why


def endpoint_and_client(world: World, profile: Profile) -> tuple[str, str]:
    grant = profile.grant or {}
    if profile.token_url:
        endpoint = _cheap(world, profile, profile.token_url, "token_url")
    elif profile.issuer:
        endpoint = "issuer " + _cheap(world, profile, profile.issuer, "issuer").rstrip("/")
    else:
        endpoint = "key_file " + _cheap(world, profile, grant.get("key_file"), "grant.key_file")
    auth: Mapping[str, Any] = profile.auth or {}
    body = profile.body if isinstance(profile.body, Mapping) else {}
    client = auth.get("client_id", body.get("client_id", grant.get("iss", "")))
    return endpoint, _cheap(world, profile, client, "client_id")


def state_name(world: World, profile: Profile) -> str:
    """The store key of this profile's grant."""
    endpoint, client = endpoint_and_client(world, profile)
    return f"{profile.name}@{_digest(endpoint + chr(10) + client)}"


def read_state(
    world: World, profile: Profile, *, migrate: bool = False, cached: bool = False
) -> State | None:
    """The grant's state; state written before grant identities (``<profile>.json``) is adopted
    by the first grant of that name that asks, and with ``migrate`` (under the lock) moved.
    ``cached``: as cheaply as the store can (a shared store answers from this machine's copy)."""
    name = state_name(world, profile)
    state = world.store.read_cached(name) if cached else world.store.read(name)
    if state is not None or not migrate:
        return state if state is not None else world.store.read(profile.name)
    # Under the grant's lock; the legacy name's lock too (always in this order: no deadlock).
    with world.store.lock(profile.name, profile.lock_timeout):
        legacy = world.store.read(profile.name)
        if legacy is None:
            return None
        stored = world.store.write(name, legacy.with_generation(0), 0)
        world.store.delete(profile.name)
    return stored
