"""Build the token request from a profile, send it safely, parse the response (RFC 6749 §5).

Safety rules (SPEC §7): no redirects, http:// only to loopback (or `insecure: true`), 1 MiB cap,
retries only where the request cannot have been processed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

import requests
import urllib3.exceptions

from oauthcli.errors import BadResponseError, ConfigError, ProviderError, TransientError
from oauthcli.profiles import Profile
from oauthcli.redact import SECRETS, Secrets, is_secret_key, mask, redact_value
from oauthcli.refs import Resolver

log = logging.getLogger("oauthcli.http")

MAX_BODY = 1024 * 1024
MAX_RETRY_AFTER = 30.0
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
HINTS = {
    "invalid_grant": "the refresh token is dead (expired, revoked or already used): "
    "a person must authorise again and put the new refresh token in the profile",
    "invalid_client": "check client_id and client_secret, and how the client authenticates "
    "(auth: {type: basic} or credentials in the body)",
    "unauthorized_client": "this client may not use this grant type; check the app's settings",
    "invalid_scope": "the requested scope is not allowed for this client or refresh token",
    "unsupported_grant_type": "check grant_type in the profile's body",
}


@dataclass(frozen=True)
class TokenRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Mapping[str, str]
    body: bytes


# --- building ---------------------------------------------------------------------------------


def body_format(profile: Profile, headers: Mapping[str, str]) -> str:
    """json or form: a Content-Type header decides, then body_format, then form."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None:
        return "json" if "json" in content_type.lower() else "form"
    return profile.body_format or "form"


def build_request(profile: Profile, resolver: Resolver) -> TokenRequest:
    url = resolver.resolve(profile.token_url or "", "token_url")
    check_url(url, profile, "token_url")
    headers = {k: resolver.resolve(v, f"headers.{k}") for k, v in profile.headers.items()}
    params = {k: resolver.resolve(v, f"params.{k}") for k, v in profile.params.items()}
    fmt = body_format(profile, headers)
    body = _encode_body(profile.body, fmt, resolver)
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = JSON if fmt == "json" else FORM
    if profile.auth:
        headers["Authorization"] = basic_auth(profile.auth, resolver)
    headers.setdefault("Accept", JSON)
    _register_secrets({**headers, **params})
    return TokenRequest(profile.method, url, headers, params, body)


def _encode_body(body: Any, fmt: str, resolver: Resolver) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        # Substituted values are encoded for the body's syntax; the literal text is kept as is.
        encode = _json_escape if fmt == "json" else _form_escape
        text = resolver.resolve(body, "body", encode)
        _register_secrets(_parse_text(text, fmt))
        return text.encode("utf-8")
    resolved = _resolve_tree(body, resolver, "body")
    _register_secrets(resolved)  # literal secrets in the profile are secrets too
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
    SECRETS.add(secret)
    raw = f"{quote_plus(client_id, safe='')}:{quote_plus(secret, safe='')}"
    value = "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")
    SECRETS.add(value.split(" ", 1)[1])
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


def check_url(url: str, profile: Profile, where: str) -> None:
    """Refuse plain http:// to a non-loopback host before any connection (SPEC §7)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"profile {profile.name!r}, field {where}: not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not profile.insecure:
        raise ConfigError(
            f"profile {profile.name!r}, field {where}: refusing plain http:// to "
            f"{parts.hostname}: secrets would travel unencrypted",
            hint="use https://, or set insecure: true if you really mean it",
        )


def describe(request: TokenRequest, secrets: Secrets = SECRETS) -> str:
    """The request as text, every secret redacted (for --dry-run and -v)."""
    query = f"?{urlencode(dict(request.params))}" if request.params else ""
    lines = [f"{request.method} {request.url}{query}"]
    for key, value in request.headers.items():
        shown = _redact_header(key, value) if is_secret_key(key) else value
        lines.append(f"{key}: {shown}")
    if request.body is not None:
        lines += ["", _describe_body(request)]
    return secrets.redact_text("\n".join(lines))


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
            return json.dumps(redact_value(json.loads(text), SECRETS))
        except ValueError:
            return text
    pairs = parse_qsl(text, keep_blank_values=True)
    shown = [
        f"{quote_plus(k)}={mask(v) if is_secret_key(k) and v else quote_plus(v)}" for k, v in pairs
    ]
    return "&".join(shown)


# --- sending ----------------------------------------------------------------------------------


def new_session(pool_size: int = 10) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials slipped into token requests
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def send(
    request: TokenRequest,
    profile: Profile,
    session: requests.Session,
    sleep: Callable[[float], None] = time.sleep,
    environ: Mapping[str, str] | None = None,
) -> HttpResult:
    """Send with the retry policy of SPEC §7; returns the final answer or raises."""
    attempts = profile.retries + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            result = _send_once(request, profile, session, environ)
        except _Retryable as exc:
            if last:
                raise exc.error from None
            pause = backoff(attempt)
            log.debug("%s; retrying in %.1fs", exc.error.message, pause)
            sleep(pause)
            continue
        if result.status in (429, 503) and not last:
            delay = retry_after(result.headers.get("retry-after"), attempt)
            if delay is not None:
                log.debug("HTTP %s; retrying in %.1fs", result.status, delay)
                sleep(delay)
                continue
        return result
    raise AssertionError("unreachable")  # pragma: no cover


class _Retryable(Exception):
    def __init__(self, error: TransientError) -> None:
        self.error = error


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … scaled by [0.5, 1)."""
    return 0.5 * (2.0**attempt) * (0.5 + random.random() / 2)


def retry_after(header: str | None, attempt: int) -> float | None:
    """Seconds to wait before retrying, or None when the server asks for more than 30 s."""
    if header is None:
        return backoff(attempt)
    header = header.strip()
    try:
        delay = float(header)
    except ValueError:
        try:
            delay = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError):
            return backoff(attempt)
    delay = max(delay, 0.0)
    return delay if delay <= MAX_RETRY_AFTER else None


def _proxies(profile: Profile, url: str, environ: Mapping[str, str] | None) -> dict[str, str]:
    if profile.proxy:
        return {"http": profile.proxy, "https": profile.proxy}
    if environ is None:
        return dict(requests.utils.get_environ_proxies(url))
    return {}


def _verify(profile: Profile) -> bool | str:
    if profile.verify is False:  # the flow already warned once, in one line
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if isinstance(profile.verify, str):
        from pathlib import Path

        return str(Path(profile.verify).expanduser())
    return profile.verify


def _send_once(
    request: TokenRequest,
    profile: Profile,
    session: requests.Session,
    environ: Mapping[str, str] | None,
) -> HttpResult:
    host = urlsplit(request.url).hostname or request.url
    log.debug("request:\n%s", describe(request))
    try:
        response = session.request(
            request.method,
            request.url,
            params=dict(request.params) or None,
            headers=dict(request.headers),
            data=request.body,
            timeout=(profile.timeout, profile.timeout),
            allow_redirects=False,
            verify=_verify(profile),
            cert=profile.cert,
            proxies=_proxies(profile, request.url, environ),
            stream=True,
        )
    except requests.exceptions.SSLError as exc:
        raise TransientError(
            f"TLS handshake with {host} failed: {_ssl_reason(exc)}",
            hint="if the server uses a private CA, set verify: /path/to/ca.pem in the profile",
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise _Retryable(TransientError(f"timed out connecting to {host}")) from None
    except requests.exceptions.ReadTimeout:
        # Never retried: the server may have processed the request and rotated the token.
        raise TransientError(
            f"timed out after {profile.timeout:g}s waiting for {host} to answer",
            hint="the provider may have rotated the refresh token; try again later",
        ) from None
    except requests.exceptions.ConnectionError as exc:
        if _before_sending(exc):
            raise _Retryable(TransientError(f"cannot connect to {host}: {_reason(exc)}")) from None
        raise TransientError(f"connection to {host} failed: {_reason(exc)}") from None
    except requests.exceptions.InvalidURL:
        raise ConfigError(f"profile {profile.name!r}: invalid token_url") from None
    except (requests.exceptions.RequestException, OSError) as exc:
        raise TransientError(f"request to {host} failed: {type(exc).__name__}") from None
    with response:
        body = _read_capped(response, host)
        headers = {k.lower(): v for k, v in response.headers.items()}
        return HttpResult(response.status_code, headers, body)


def _read_capped(response: requests.Response, host: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadResponseError(f"{host} answered with {int(declared)} bytes; the limit is 1 MiB")
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise BadResponseError(f"{host} answered with more than 1 MiB; refused")
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        raise TransientError(f"reading the answer from {host} failed: {_reason(exc)}") from None
    return b"".join(chunks)


def _before_sending(exc: requests.exceptions.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, urllib3.exceptions.NewConnectionError)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Temporary failure in name",
                   "No route to host", "Network is unreachable", "Connection reset"):  # fmt: skip
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _ssl_reason(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        detail = text.split("CERTIFICATE_VERIFY_FAILED]", 1)[-1].split("(_ssl", 1)[0]
        return "certificate verify failed" + (f" ({detail.strip(' ()')})" if detail else "")
    return "TLS error"


# --- parsing ----------------------------------------------------------------------------------


def parse_body(result: HttpResult) -> dict[str, Any] | None:
    """JSON or form-encoded; None when the body is neither."""
    content_type = result.headers.get("content-type", "").lower()
    text = result.body.decode("utf-8", "replace").strip()
    if not text:
        return None
    if "json" in content_type or text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    if FORM in content_type or ("text/plain" in content_type and "=" in text):
        pairs = parse_qsl(text, keep_blank_values=True)
        return dict(pairs) if pairs else None
    return None


def check_response(result: HttpResult, profile: Profile, host: str) -> dict[str, Any]:
    """The parsed token response, or the error of SPEC §4 that the answer deserves."""
    if 300 <= result.status < 400:
        location = result.headers.get("location", "(no Location)")
        raise BadResponseError(
            f"{host} answered HTTP {result.status} redirecting to {SECRETS.redact_text(location)}; "
            "redirects are not followed because they would resend secrets",
            hint="set token_url to the final URL",
        )
    data = parse_body(result)
    if data is not None:
        _register_secrets(data)
        log.debug("response: HTTP %s %s", result.status, json.dumps(redact_value(data, SECRETS)))
    else:
        log.debug("response: HTTP %s, %d bytes, not JSON or form", result.status, len(result.body))
    error = _oauth_error(data, profile)
    if result.status == 429 or result.status >= 500:
        detail = f" ({error[0]})" if error else ""
        raise TransientError(f"{host} answered HTTP {result.status}{detail}", hint=_later(result))
    if error or result.status >= 400:
        raise _provider_error(result.status, error, host)
    if not 200 <= result.status < 300:
        raise BadResponseError(f"{host} answered HTTP {result.status}")
    if data is None:
        kind = "an empty body" if not result.body.strip() else _kind(result)
        raise BadResponseError(f"{host} answered HTTP {result.status} with {kind}")
    return data


def _later(result: HttpResult) -> str | None:
    after = result.headers.get("retry-after")
    return f"the server asks to retry after {after}" if after else "try again later"


def _kind(result: HttpResult) -> str:
    content_type = result.headers.get("content-type", "unknown type").split(";")[0]
    return f"a body that is neither JSON nor form data ({content_type})"


def _oauth_error(data: dict[str, Any] | None, profile: Profile) -> tuple[str, str | None] | None:
    if data is None:
        return None
    from oauthcli.token import dig

    error = dig(data, profile.field_path("error"))
    if error is None and data.get("ok") is False:  # Slack
        error = "error"
    if error is None or error is False or error == "":
        return None
    if isinstance(error, dict):  # {"error": {"code": …, "message": …}} shapes
        code = error.get("code") or error.get("status") or "error"
        return str(code), _short(error.get("message"))
    description = dig(data, profile.field_path("error_description")) or data.get("message")
    return str(error), _short(description)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return SECRETS.redact_text(text[:300])


def _provider_error(status: int, error: tuple[str, str | None] | None, host: str) -> ProviderError:
    if error is None:
        return ProviderError(f"{host} refused the request: HTTP {status}", status=status)
    code, description = error
    detail = f": {description}" if description else ""
    return ProviderError(
        f"{host} refused the request: {SECRETS.redact_text(code)}{detail} (HTTP {status})",
        hint=HINTS.get(code),
        error=code,
        error_description=description,
        status=status,
    )


def _register_secrets(data: Any) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key(str(key)) and isinstance(value, str):
                SECRETS.add(value)
            else:
                _register_secrets(value)
    elif isinstance(data, list):
        for item in data:
            _register_secrets(item)
