"""The `validate` settings of a profile, references resolved and URLs checked before any request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from oauthcli.config.model import Profile
from oauthcli.config.schema import HTTP_METHODS, schema_error
from oauthcli.redact import Secrets
from oauthcli.wire.request import check_url
from oauthcli.worldtype import World

DEFAULT_LEEWAY = 30.0


@dataclass(frozen=True)
class Probe:
    url: str
    method: str = "GET"
    expect_status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    introspection_url: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None  # the expected iss
    audience: tuple[str, ...] = ()
    leeway: float = DEFAULT_LEEWAY
    probe: Probe | None = None
    # The JWT settings written in `validate:` itself. With any of them a token that is not a
    # readable JWT fails: a person asked for its claims or signature to be checked. (The
    # profile's own `issuer`, there for discovery, does not count: opaque access tokens from an
    # OpenID provider are normal, and introspection or a probe can verify them.)
    expects_jwt: tuple[str, ...] = ()


def settings(rt: World, profile: Profile) -> Settings:
    """The `validate` mapping, references resolved: a ConfigError before anything is sent."""
    raw = dict(profile.validate or {})
    resolve = rt.resolver(profile).resolve
    source = rt.config.source
    issuer = raw.get("issuer", profile.issuer)
    if issuer is not None and not isinstance(issuer, str):
        raise schema_error(source, profile.name, "validate.issuer", "string", issuer)
    leeway = _leeway(raw.get("leeway", DEFAULT_LEEWAY), source, profile.name)
    return Settings(
        introspection_url=_url(raw, "introspection_url", resolve, profile, (source, rt.secrets)),
        jwks_url=_url(raw, "jwks_url", resolve, profile, (source, rt.secrets)),
        issuer=resolve(issuer, "validate.issuer") if issuer else None,
        audience=_audience(raw.get("audience"), resolve, source, profile.name),
        leeway=leeway,
        probe=_probe(raw.get("probe"), resolve, profile, source, rt.secrets),
        expects_jwt=tuple(f"validate.{key}" for key in JWT_KEYS if raw.get(key) is not None),
    )


JWT_KEYS = ("jwks_url", "issuer", "audience")


Resolve = Callable[[str, str], str]


def _url(
    raw: Mapping[str, Any],
    key: str,
    resolve: Resolve,
    profile: Profile,
    where: tuple[str, Secrets],
) -> str | None:
    source, secrets = where
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise schema_error(source, profile.name, f"validate.{key}", "string", value)
    resolved = resolve(value, f"validate.{key}")
    check_url(resolved, profile, f"validate.{key}", secrets)
    return resolved


def _leeway(value: Any, source: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise schema_error(source, name, "validate.leeway", "number of seconds", value)
    return float(value)


def _audience(value: Any, resolve: Resolve, source: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise schema_error(source, name, "validate.audience", "string or list of strings", value)
    return tuple(resolve(v, "validate.audience") for v in values)


def _probe(
    value: Any, resolve: Resolve, profile: Profile, source: str, secrets: Secrets
) -> Probe | None:
    if value is None:
        return None
    method = str(value.get("method", "GET")).upper()
    if method not in HTTP_METHODS:
        raise schema_error(source, profile.name, "validate.probe.method", "HTTP method", method)
    status = value.get("expect_status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise schema_error(source, profile.name, "validate.probe.expect_status", "HTTP status",
                           status)  # fmt: skip
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise schema_error(source, profile.name, "validate.probe.headers", "mapping", headers)
    url = resolve(value["url"], "validate.probe.url")
    check_url(url, profile, "validate.probe.url", secrets)
    resolved = {str(k): resolve(str(v), f"validate.probe.headers.{k}") for k, v in headers.items()}
    return Probe(url, method, status, resolved)
