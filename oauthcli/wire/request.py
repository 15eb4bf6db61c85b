"""Build the token request from a profile: URL checks, headers, body encoding, client auth.

Pure: nothing is sent here. `describe` renders a request with every secret redacted (--dry-run, -v).
"""


import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from oauthcli import boundedjson
from oauthcli.config.model import Profile
from oauthcli.config.refs import Resolver
from oauthcli.errors import ConfigError
from oauthcli.redact import Secrets, is_secret_key, mask, redact_value, register_fields

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class TokenRequest(NamedTuple):
    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str]
    body: bytes | None
    # the run's registry: what this request resolves, and what its answer carries, is secret
    secrets: Secrets
    # the same request for another attempt, where one may not be sent twice (a signed client
    # assertion has a one-time jti): None = resend as it is
    renew: Callable[[], "TokenRequest"] | None = None

    def __repr__(self) -> str:  # never the body or the registry: they hold secrets
        return f"TokenRequest(method={self.method!r}, url={self.url!r})"


def body_format(profile: Profile, headers: Mapping[str, str]) -> str:
    """json or form: a Content-Type header decides, then body_format, then form."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None:
        return "json" if "json" in content_type.lower() else "form"
    return profile.body_format or "form"


PROFILE_BODY: Any = object()  # build_request's default: the body the profile has written


def build_request(
    profile: Profile, resolver: Resolver, body: Any = PROFILE_BODY, *, url: str | None = None
) -> TokenRequest:
    """The request a profile describes: ``body`` (a template: mapping, string or None; by default
    the profile's) with its headers, params and client authentication (wire.clientauth)."""
    from oauthcli.wire.clientauth import authenticate

    if body is PROFILE_BODY:
        body = profile.body

    url = url or resolver.resolve(profile.token_url or "", "token_url")
    check_url(url, profile, "token_url", resolver.secrets)
    headers = {k: resolver.resolve(v, f"headers.{k}") for k, v in profile.headers.items()}
    params = {k: resolver.resolve(v, f"params.{k}") for k, v in profile.params.items()}
    client = authenticate(profile, resolver, url)
    fmt = body_format(profile, headers)
    extra = {} if profile.auth is None else client.fields  # without auth: already in the body
    encoded = _encode_body(body, fmt, resolver, extra)
    if encoded is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = JSON if fmt == "json" else FORM
    headers.update(client.headers)
    headers.setdefault("Accept", JSON)
    register_fields({**headers, **params}, resolver.secrets)
    request = TokenRequest(profile.method, url, headers, params, encoded, resolver.secrets)
    if (profile.auth or {}).get("type") == "private_key_jwt":
        return _resigning(request, profile, resolver, client.fields["client_assertion"])
    return request


def _resigning(request: TokenRequest, profile: Profile, resolver: Resolver,
               assertion: str) -> TokenRequest:  # fmt: skip
    """The request whose ``renew`` signs a fresh assertion (SPEC §12: a fresh jti per request)
    and puts it in place of the old one (a JWT reads the same in a form and in JSON)."""
    from oauthcli.wire.clientauth import authenticate

    def renew() -> TokenRequest:
        fresh = authenticate(profile, resolver, request.url).fields["client_assertion"]
        body = request.body.replace(assertion.encode(), fresh.encode()) if request.body else None
        return _resigning(request._replace(body=body), profile, resolver, fresh)

    return request._replace(renew=renew)


def _encode_body(
    body: Any, fmt: str, resolver: Resolver, extra: Mapping[str, str]
) -> bytes | None:
    if body is None:
        return urlencode(extra).encode("ascii") if extra else None
    if isinstance(body, str):
        # Substituted values are encoded for the body's syntax; the literal text is kept as is.
        encode = _json_escape if fmt == "json" else _form_escape
        text = resolver.resolve(body, "body", encode)
        register_fields(_parse_text(text, fmt), resolver.secrets)
        return _append(text, fmt, extra).encode("utf-8")
    resolved = {**extra, **_resolve_tree(body, resolver, "body")}
    register_fields(resolved, resolver.secrets)  # literal secrets in the profile are secrets too
    if fmt == "json":
        return json.dumps(resolved).encode("utf-8")
    pairs = [(k, "" if v is None else _scalar(v)) for k, v in resolved.items()]
    return urlencode(pairs).encode("ascii")


def _append(text: str, fmt: str, extra: Mapping[str, str]) -> str:
    """Client-auth fields added to a body written as a string."""
    if not extra:
        return text
    if fmt == "json":
        data = _parse_text(text, fmt)
        if not isinstance(data, dict):
            raise ConfigError("a JSON body written as a string must be an object to add auth")
        return json.dumps({**extra, **data})
    return "&".join(p for p in (text, urlencode(extra)) if p)


def _parse_text(text: str, fmt: str) -> Any:
    if fmt == "json":
        try:
            return boundedjson.loads(text)
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
            return json.dumps(redact_value(boundedjson.loads(text), request.secrets))
        except ValueError:
            return text
    pairs = parse_qsl(text, keep_blank_values=True)
    shown = [f"{quote_plus(k)}={_shown_value(k, v)}" for k, v in pairs]
    return "\n".join(["&".join(shown), *_assertions(pairs)])


def _shown_value(key: str, value: str) -> str:
    """A field as --dry-run and -v show it: secrets masked; a signed JWT (an assertion, a
    subject token) is described below it; a reference a dry run did not resolve is shown."""
    from oauthcli.config.refs import is_preview, shown_preview
    from oauthcli.wire.assertion import peek

    if not is_secret_key(key) or not value:
        return quote_plus(value)
    if is_preview(value):
        return shown_preview(value)
    return "<JWT, signature redacted: below>" if peek(value) else mask(value)


def _assertions(pairs: list[tuple[str, str]]) -> list[str]:
    """Header and claims of each JWT in a secret field; never the signature. (describe then
    redacts every registered secret, in the claims too.)"""
    from oauthcli.wire.assertion import peek

    lines = []
    for key, value in pairs:
        parts = peek(value) if is_secret_key(key) else None
        if parts:
            header, claims = (json.dumps(part, sort_keys=True) for part in parts)
            lines += ["", f"{key} (JWT, signature redacted):", f"  header {header}",
                      f"  claims {claims}"]  # fmt: skip
    return lines
