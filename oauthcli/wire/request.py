"""Build the token request from a profile: URL checks, headers, body encoding, client auth.

Pure: nothing is sent here. `describe` renders a request with every secret redacted (--dry-run, -v).
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from oauthcli.config.model import Profile
from oauthcli.config.refs import Resolver
from oauthcli.errors import ConfigError
from oauthcli.redact import Secrets, is_secret_key, mask, redact_value, register_fields

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class TokenRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    # the run's registry: what this request resolves, and what its answer carries, is secret
    secrets: Secrets = field(default_factory=Secrets, compare=False, repr=False)


def body_format(profile: Profile, headers: Mapping[str, str]) -> str:
    """json or form: a Content-Type header decides, then body_format, then form."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None:
        return "json" if "json" in content_type.lower() else "form"
    return profile.body_format or "form"


def build_request(profile: Profile, resolver: Resolver) -> TokenRequest:
    url = resolver.resolve(profile.token_url or "", "token_url")
    check_url(url, profile, "token_url", resolver.secrets)
    headers = {k: resolver.resolve(v, f"headers.{k}") for k, v in profile.headers.items()}
    params = {k: resolver.resolve(v, f"params.{k}") for k, v in profile.params.items()}
    fmt = body_format(profile, headers)
    body = _encode_body(profile.body, fmt, resolver)
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = JSON if fmt == "json" else FORM
    if profile.auth:
        headers["Authorization"] = basic_auth(profile.auth, resolver)
    headers.setdefault("Accept", JSON)
    register_fields({**headers, **params}, resolver.secrets)
    return TokenRequest(profile.method, url, headers, params, body, resolver.secrets)


def _encode_body(body: Any, fmt: str, resolver: Resolver) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        # Substituted values are encoded for the body's syntax; the literal text is kept as is.
        encode = _json_escape if fmt == "json" else _form_escape
        text = resolver.resolve(body, "body", encode)
        register_fields(_parse_text(text, fmt), resolver.secrets)
        return text.encode("utf-8")
    resolved = _resolve_tree(body, resolver, "body")
    register_fields(resolved, resolver.secrets)  # literal secrets in the profile are secrets too
    if fmt == "json":
        return json.dumps(resolved).encode("utf-8")
    pairs = [(k, "" if v is None else _scalar(v)) for k, v in resolved.items()]
    return urlencode(pairs).encode("ascii")


def _parse_text(text: str, fmt: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text)
        except ValueError:
            return None
    return dict(parse_qsl(text, keep_blank_values=True))


def _resolve_tree(value: Any, resolver: Resolver, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_tree(v, resolver, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_tree(v, resolver, where) for v in value]
    if isinstance(value, str):
        return resolver.resolve(value, where)
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _form_escape(value: str) -> str:
    return quote_plus(value, safe="")


def _json_escape(value: str) -> str:
    return json.dumps(value)[1:-1]


def basic_auth(auth: Mapping[str, str], resolver: Resolver) -> str:
    """RFC 6749 §2.3.1: each part form-urlencoded, then base64 of ``id:secret``."""
    client_id = resolver.resolve(auth["client_id"], "auth.client_id")
    secret = resolver.resolve(auth["client_secret"], "auth.client_secret")
    resolver.secrets.add(secret)
    raw = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}"
    value = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")
    resolver.secrets.add(value.split(" ", 1)[1])
    return value


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, profile: Profile, where: str, secrets: Secrets) -> None:
    """Refuse plain http:// to a non-loopback host before any connection (SPEC §7)."""
    try:
        parts = urlsplit(url)
        secrets.add(parts.password)  # a password in the URL's userinfo is a secret too
        host = parts.hostname
    except ValueError as exc:
        raise ConfigError(f"profile {profile.name!r}, field {where}: invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"profile {profile.name!r}, field {where}: not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not profile.insecure:
        raise ConfigError(
            f"profile {profile.name!r}, field {where}: refusing plain http:// to "
            f"{parts.hostname}: secrets would travel unencrypted",
            hint="use https://, or set insecure: true if you really mean it",
        )


def describe(request: TokenRequest) -> str:
    """The request as text, every secret redacted (for --dry-run and -v)."""
    query = f"?{urlencode(dict(request.params))}" if request.params else ""
    lines = [f"{request.method} {request.url}{query}"]
    for key, value in request.headers.items():
        shown = _redact_header(key, value) if is_secret_key(key) else value
        lines.append(f"{key}: {shown}")
    if request.body is not None:
        lines += ["", _describe_body(request)]
    return request.secrets.redact_text("\n".join(lines))


def _redact_header(key: str, value: str) -> str:
    scheme, sep, credential = value.partition(" ")
    if key.lower() == "authorization" and sep:
        return f"{scheme} {mask(credential)}"
    return mask(value)


def _describe_body(request: TokenRequest) -> str:
    assert request.body is not None
    text = request.body.decode("utf-8", "replace")
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    if "json" in content_type.lower():
        try:
            return json.dumps(redact_value(json.loads(text), request.secrets))
        except ValueError:
            return text
    pairs = parse_qsl(text, keep_blank_values=True)
    shown = [
        f"{quote_plus(k)}={mask(v) if is_secret_key(k) and v else quote_plus(v)}" for k, v in pairs
    ]
    return "&".join(shown)
