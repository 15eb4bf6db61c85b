"""The profiles file as frozen data: Config holds the raw profiles, Profile one merged profile.

References inside values stay unresolved here; they are resolved at use (config.refs.Resolver).
"""


import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from oauthcli.config.schema import check_key, schema_error
from oauthcli.errors import ConfigError

PROFILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")  # no leading dot: state dir internals
# The shared default of the mapping fields: never mutated (they are read-only Mappings).
_NONE: Mapping[str, Any] = {}


class Profile(NamedTuple):
    """One merged profile (frozen). A NamedTuple, not a dataclass: `dataclasses` and the
    generated methods of a 30-field frozen class cost a refresh about 12 ms (bench/README.md)."""

    name: str
    token_url: str | None = None
    description: str = ""
    method: str = "POST"
    headers: Mapping[str, str] = _NONE
    params: Mapping[str, str] = _NONE
    body: Mapping[str, Any] | str | None = None
    body_format: str | None = None
    refresh_token: str | None = None
    auth: Mapping[str, Any] | None = None
    response: Mapping[str, str] = _NONE
    export: Mapping[str, str] | None = None
    min_valid: float = 60
    assume_ttl: float = 3600
    lock_timeout: float = 30
    validate: Mapping[str, Any] | None = None
    revocation_url: str | None = None
    issuer: str | None = None
    timeout: float = 10
    retries: int = 2
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    proxy: str | None = None
    insecure: bool = False
    extends: str | None = None
    scope: str | None = None  # standard profiles: requested at login, and on refresh if asked
    refresh_scope: bool = False
    grant: Mapping[str, Any] | None = None  # a machine grant instead of the refresh (SPEC §12)
    login: Mapping[str, Any] | None = None  # how `oauthcli login` obtains the grant (SPEC §9)
    git: Mapping[str, Any] | None = None  # git-credential settings (SPEC §11)

    def field_path(self, name: str) -> str:
        """Where a response field lives: the profile's dotted path, else the RFC 6749 name."""
        return self.response.get(name, name)


class Config:
    """A parsed profiles file; profiles are merged and validated when asked for."""

    def __init__(
        self, source: str, defaults: Mapping[str, Any], raw_profiles: Mapping[str, Any],
        store: str | dict[str, str] | None = None,  # `store:`: a URL or {url, key} (SPEC §10)
    ) -> None:  # fmt: skip
        self.source = source
        self.defaults = defaults
        self.raw_profiles = raw_profiles
        self.store = store
        self._cache: dict[str, Profile] = {}

    @property
    def names(self) -> list[str]:
        return list(self.raw_profiles)

    def profile(self, name: str) -> Profile:
        if name not in self._cache:
            if name not in self.raw_profiles:
                raise unknown_profile(name, self.names, self.source)
            self._cache[name] = build_profile(name, self.merged(name), self.source)
        return self._cache[name]

    def merged(self, name: str) -> dict[str, Any]:
        """The profile's mapping with its `extends` chain and the defaults deep-merged under it."""
        chain: list[str] = []
        current: str | None = name
        while current is not None:
            if current in chain:
                cycle = " → ".join([*chain, current])
                raise ConfigError(f"{self.source}: profile {name!r}: extends cycle: {cycle}")
            if current not in self.raw_profiles:
                raise unknown_profile(current, self.names, self.source, f"{chain[-1]!r} extends")
            chain.append(current)
            raw = self._raw(current)
            parent = raw.get("extends")
            if parent is not None and not isinstance(parent, str):
                raise schema_error(self.source, current, "extends", "profile name", parent)
            current = parent
        merged: dict[str, Any] = deep_merge({}, dict(self.defaults))
        for ancestor in reversed(chain):
            merged = deep_merge(merged, self._raw(ancestor))
        merged.pop("extends", None)
        return merged

    def _raw(self, name: str) -> dict[str, Any]:
        raw = self.raw_profiles[name]
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.source}: profile {name!r} must be a mapping")
        return raw


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def build_profile(name: str, data: Mapping[str, Any], source: str) -> Profile:
    # `key: null` is as if absent, so a profile can drop a value it inherits.
    data = {k: v for k, v in data.items() if v is not None}
    for key, value in data.items():
        check_key(source, name, key, value)
    grant_type = data["grant"].get("type") if isinstance(data.get("grant"), dict) else None
    needs_url = grant_type != "google_service_account"  # it goes to the key's token_uri
    if needs_url and not data.get("token_url") and not data.get("issuer"):
        raise ConfigError(
            f"{source}: profile {name!r}: token_url is required",
            hint="add token_url: https://… (or issuer: for discovery)",
        )
    kwargs = dict(data)
    kwargs["method"] = str(data.get("method", "POST")).upper()
    for key in ("headers", "params", "response", "export"):
        if key in kwargs:
            kwargs[key] = {k: str(v) for k, v in kwargs[key].items()}
    if isinstance(kwargs.get("cert"), list):
        kwargs["cert"] = tuple(kwargs["cert"])
    return Profile(name=name, **kwargs)


def unknown_profile(name: str, names: list[str], source: str, context: str = "") -> ConfigError:
    import difflib

    where = f" ({context})" if context else ""
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
    known = ", ".join(names) if names else "none"
    return ConfigError(f"unknown profile {name!r}{where} in {source}; profiles: {known}", hint=hint)
