"""The profiles file: locate, read (safe loader only), merge and validate into frozen Profiles.

References inside values stay unresolved here; they are resolved at use (refs.Resolver).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from oauthcli.errors import ConfigError

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
PROFILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")  # no leading dot: state dir internals
_STR_MAP = "mapping of strings"


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in value.items()
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


# key → (description of the expected type, check)
SCHEMA: dict[str, tuple[str, Any]] = {
    "description": ("string", lambda v: isinstance(v, str)),
    "token_url": ("string", lambda v: isinstance(v, str) and v.strip() != ""),
    "method": ("HTTP method", lambda v: isinstance(v, str) and v.upper() in HTTP_METHODS),
    "headers": (_STR_MAP, _is_str_map),
    "params": (_STR_MAP, _is_str_map),
    "body": ("mapping or string", lambda v: isinstance(v, (dict, str))),
    "body_format": ("'form' or 'json'", lambda v: v in ("form", "json")),
    "refresh_token": ("string", lambda v: isinstance(v, str)),
    "auth": ("mapping", lambda v: isinstance(v, dict)),
    "response": (_STR_MAP, _is_str_map),
    "export": (_STR_MAP, _is_str_map),
    "min_valid": ("number of seconds", _is_number),
    "assume_ttl": ("number of seconds", _is_number),
    "lock_timeout": ("number of seconds", _is_number),
    "validate": ("mapping", lambda v: isinstance(v, dict)),
    "revocation_url": ("string", lambda v: isinstance(v, str)),
    "issuer": ("string", lambda v: isinstance(v, str)),
    "timeout": ("positive number of seconds", lambda v: _is_number(v) and v > 0),
    "retries": ("integer 0-10", lambda v: isinstance(v, int) and 0 <= v <= 10),
    "verify": ("true, false or a CA bundle path", lambda v: isinstance(v, (bool, str))),
    "cert": (
        "path or [cert, key]",
        lambda v: (
            isinstance(v, str)
            or (isinstance(v, list) and len(v) == 2 and all(isinstance(p, str) for p in v))
        ),
    ),
    "proxy": ("string", lambda v: isinstance(v, str)),
    "insecure": ("boolean", lambda v: isinstance(v, bool)),
    "extends": ("profile name", lambda v: isinstance(v, str)),
}
AUTH_KEYS = {"type", "client_id", "client_secret"}


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


VALIDATE_TYPES: dict[str, tuple[str, Any]] = {
    "introspection_url": ("string", _is_str),
    "jwks_url": ("string", _is_str),
    "issuer": ("string", _is_str),
    "audience": (
        "string or list of strings",
        lambda v: isinstance(v, str) or (isinstance(v, list) and all(map(_is_str, v))),
    ),
    "leeway": ("number of seconds", _is_number),
    "probe": ("mapping with url", lambda v: isinstance(v, dict) and _is_str(v.get("url"))),
}
PROBE_TYPES: dict[str, tuple[str, Any]] = {
    "url": ("string", _is_str),
    "method": ("HTTP method", lambda v: _is_str(v) and v.upper() in HTTP_METHODS),
    "expect_status": ("HTTP status", lambda v: isinstance(v, int) and 100 <= v <= 599),
    "headers": (_STR_MAP, _is_str_map),
}
VALIDATE_KEYS = set(VALIDATE_TYPES)
PROBE_KEYS = set(PROBE_TYPES)
RESPONSE_FIELDS = {
    "access_token", "token_type", "expires_in", "expires_at", "refresh_token", "scope",
    "id_token", "error", "error_description",
}  # fmt: skip


@dataclass(frozen=True)
class Profile:
    name: str
    token_url: str | None = None
    description: str = ""
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | str | None = None
    body_format: str | None = None
    refresh_token: str | None = None
    auth: Mapping[str, str] | None = None
    response: Mapping[str, str] = field(default_factory=dict)
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

    def field_path(self, name: str) -> str:
        """Where a response field lives: the profile's dotted path, else the RFC 6749 name."""
        return self.response.get(name, name)


@dataclass(frozen=True)
class Config:
    """A parsed profiles file; profiles are merged and validated when asked for."""

    source: str
    defaults: Mapping[str, Any]
    raw_profiles: Mapping[str, Any]
    _cache: dict[str, Profile] = field(default_factory=dict, compare=False, repr=False)

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
    if not data.get("token_url") and not data.get("issuer"):
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


def check_key(source: str, profile: str, key: str, value: Any) -> None:
    if key not in SCHEMA:
        raise ConfigError(
            f"{source}: profile {profile!r}: unknown key {key!r}",
            hint=close_match_hint(key, [k for k in SCHEMA if k != "extends"]),
        )
    expected, check = SCHEMA[key]
    if not check(value):
        raise schema_error(source, profile, key, expected, value)
    nested = {"auth": AUTH_KEYS, "validate": VALIDATE_KEYS}
    if key in nested:
        check_nested(source, profile, key, value, nested[key])
    if key == "response":
        for field_name in value:
            if field_name not in RESPONSE_FIELDS:
                raise ConfigError(
                    f"{source}: profile {profile!r}: unknown response field {field_name!r}",
                    hint=close_match_hint(field_name, sorted(RESPONSE_FIELDS)),
                )


def check_nested(
    source: str, profile: str, key: str, value: dict[str, Any], keys: set[str]
) -> None:
    for sub in value:
        if sub not in keys:
            raise ConfigError(
                f"{source}: profile {profile!r}: unknown key {key}.{sub}",
                hint=close_match_hint(sub, sorted(keys)),
            )
    if key == "auth":
        if value.get("type") != "basic":
            raise schema_error(source, profile, "auth.type", "'basic'", value.get("type"))
        for sub in ("client_id", "client_secret"):
            if not isinstance(value.get(sub), str):
                raise schema_error(source, profile, f"auth.{sub}", "string", value.get(sub))
    types = {"validate": VALIDATE_TYPES, "validate.probe": PROBE_TYPES}.get(key, {})
    for sub, item in value.items():
        expected, check = types.get(sub, ("", None))
        if check is not None and not check(item):
            raise schema_error(source, profile, f"{key}.{sub}", expected, item)
    if key == "validate" and "probe" in value:
        check_nested(source, profile, "validate.probe", value["probe"], PROBE_KEYS)


def schema_error(source: str, profile: str, key: str, expected: str, value: Any) -> ConfigError:
    got = type(value).__name__ if not isinstance(value, str) else repr(value)
    if isinstance(value, str) and len(value) > 40:
        got = "a string"
    return ConfigError(
        f"{source}: profile {profile!r}, field {key}: expected {expected}, got {got}"
    )


def close_match_hint(word: str, choices: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {matches[0]!r}?" if matches else None


def unknown_profile(name: str, names: list[str], source: str, context: str = "") -> ConfigError:
    import difflib

    where = f" ({context})" if context else ""
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
    known = ", ".join(names) if names else "none"
    return ConfigError(f"unknown profile {name!r}{where} in {source}; profiles: {known}", hint=hint)


# --- locating and reading -------------------------------------------------------------------


def locate(option: str | None, environ: Mapping[str, str], cwd: Path) -> str:
    """The profiles file to read: -c, $OAUTHCLI_CONFIG, ./oauthcli.yaml, user config dir."""
    if option:
        return option
    if environ.get("OAUTHCLI_CONFIG"):
        return environ["OAUTHCLI_CONFIG"]
    local = cwd / "oauthcli.yaml"
    if local.is_file():
        return str(local)
    from platformdirs import user_config_dir

    return str(Path(user_config_dir("oauthcli")) / "profiles.yaml")


class ParsedCache(Protocol):
    """Keeps the parsed file between runs, so the cached `token` path need not import yaml."""

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None: ...

    def put(self, key: tuple[Any, ...], data: dict[str, Any]) -> None: ...


def load(
    option: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[str] | None = None,
    cache: ParsedCache | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    path = locate(option, environ, cwd or Path.cwd())
    if path == "-":
        return config_from(parse_yaml((stdin or sys.stdin).read(), "<stdin>"), "<stdin>")
    file = Path(path).expanduser()
    try:
        info = file.stat()
        key = (str(file.resolve()), info.st_mtime_ns, info.st_size, info.st_ino)
        cached = cache.get(key) if cache else None
        if cached is not None:
            return config_from(cached, path)
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"profiles file not found: {path}",
            hint="pass -c PATH, set OAUTHCLI_CONFIG, or start from profiles.example.yaml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc}") from None
    data = parse_yaml(text, path)
    if cache:
        cache.put(key, data)  # keyed by the stat taken before reading: a later edit misses
    return config_from(data, path)


def parse(text: str, source: str) -> Config:
    return config_from(parse_yaml(text, source), source)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {type(exc).__name__}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping with a 'profiles' key")
    return data


def config_from(data: dict[str, Any], source: str) -> Config:
    unknown = set(data) - {"defaults", "profiles"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"{source}: unknown top-level key {key!r}",
            hint=close_match_hint(key, ["defaults", "profiles"]) or "profiles go under 'profiles:'",
        )
    profiles = data.get("profiles") or {}
    defaults = data.get("defaults") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{source}: 'profiles' must be a mapping of name → profile")
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: 'defaults' must be a mapping")
    for name in profiles:
        if not isinstance(name, str) or not PROFILE_NAME.match(name):
            raise ConfigError(
                f"{source}: invalid profile name {name!r} "
                "(use A-Z a-z 0-9 _ . -, not starting with a dot)"
            )
    return Config(source=source, defaults=defaults, raw_profiles=profiles)
