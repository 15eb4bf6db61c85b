"""Send a token request safely (SPEC §7).

No redirects, 1 MiB cap, timeouts, and retries only where the request cannot have been processed:
connection refused or failed before sending, 429, 503 (Retry-After honoured up to 30 s).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from oauthcli.config.model import Profile
from oauthcli.errors import BadResponseError, ConfigError, TransientError
from oauthcli.wire.request import TokenRequest, describe, is_loopback
from oauthcli.wire.response import HttpResult

log = logging.getLogger("oauthcli.http")

MAX_BODY = 1024 * 1024
MAX_RETRY_AFTER = 30.0


def new_session(pool_size: int = 10) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials slipped into token requests
    from oauthcli.wire.deadline import DeadlineAdapter

    adapter = DeadlineAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def send(
    request: TokenRequest,
    profile: Profile,
    session: requests.Session,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpResult:
    """Send with the retry policy of SPEC §7; returns the final answer or raises."""
    attempts = profile.retries + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        if attempt and request.renew is not None:
            request = request.renew()
        try:
            result = _send_once(request, profile, session)
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


def _proxies(profile: Profile, url: str) -> dict[str, str]:
    """The profile's proxy, else HTTPS_PROXY/NO_PROXY (the session itself ignores the env)."""
    if is_loopback(urlsplit(url).hostname):
        return {}  # plain http is allowed only because it never leaves the host: no proxy
    if profile.proxy:
        return {"http": profile.proxy, "https": profile.proxy}
    return dict(requests.utils.get_environ_proxies(url))


def _verify(profile: Profile, session: requests.Session) -> bool | str:
    """The TLS setting: warns once per profile and run (one session per run) when it is off."""
    if profile.verify is False:
        warned: set[str] = session.__dict__.setdefault("_oauthcli_warned", set())
        if profile.name not in warned:
            warned.add(profile.name)
            log.warning("profile %r: verify: false, TLS certificates are not checked", profile.name)
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # warned just above
    if isinstance(profile.verify, str):
        return _existing(profile.verify, profile, "verify")
    return profile.verify


def _existing(path: str, profile: Profile, where: str) -> str:
    from pathlib import Path

    full = Path(path).expanduser()
    if not full.is_file():
        raise ConfigError(f"profile {profile.name!r}, field {where}: no such file: {path}")
    return str(full)


def _cert(profile: Profile) -> str | tuple[str, str] | None:
    if isinstance(profile.cert, str):
        return _existing(profile.cert, profile, "cert")
    if profile.cert:
        return (
            _existing(profile.cert[0], profile, "cert"),
            _existing(profile.cert[1], profile, "cert"),
        )
    return None


def _send_once(
    request: TokenRequest,
    profile: Profile,
    session: requests.Session,
) -> HttpResult:
    """One exchange, bounded as a whole by the profile's ``timeout`` (not per read)."""
    from oauthcli.wire.deadline import DeadlineAdapter

    host = urlsplit(request.url).hostname or request.url
    if log.isEnabledFor(logging.DEBUG):  # describing redacts every secret: -v only (SPEC §8)
        log.debug("request:\n%s", describe(request))
    adapter = session.get_adapter(request.url)
    if not isinstance(adapter, DeadlineAdapter):  # a session made elsewhere: per-read only
        return _exchange(request, profile, session, host)
    with adapter.deadline(profile.timeout) as watch:
        try:
            return _exchange(request, profile, session, host)
        except (TransientError, _Retryable) as exc:
            if not watch.expired:
                raise
            raise _timed_out(host, profile) from exc


def _exchange(
    request: TokenRequest, profile: Profile, session: requests.Session, host: str
) -> HttpResult:
    try:
        response = session.request(
            request.method,
            request.url,
            params=dict(request.params) or None,
            headers=dict(request.headers),
            data=request.body,
            timeout=(profile.timeout, profile.timeout),
            allow_redirects=False,
            verify=_verify(profile, session),
            cert=_cert(profile),
            proxies=_proxies(profile, request.url),
            stream=True,
        )
    except (requests.exceptions.RequestException, OSError, UnicodeError) as exc:
        raise _failure(exc, host, profile) from None
    with response:
        body = _read_capped(response, host)
        headers = {k.lower(): v for k, v in response.headers.items()}
        return HttpResult(response.status_code, headers, body, request.secrets, request.url)


def _timed_out(host: str, profile: Profile) -> TransientError:
    """Per read or as a whole (wire.deadline): never retried, the server may have rotated."""
    return TransientError(
        f"timed out after {profile.timeout:g}s waiting for {host} to answer",
        hint="the provider may have rotated the refresh token; try again later",
    )


def _failure(exc: BaseException, host: str, profile: Profile) -> Exception:
    """What a failed request means (SPEC §4, §7): retryable only if nothing was sent."""
    if isinstance(exc, requests.exceptions.SSLError):
        return TransientError(
            f"TLS handshake with {host} failed: {_ssl_reason(exc)}",
            hint="if the server uses a private CA, set verify: /path/to/ca.pem in the profile",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _Retryable(TransientError(f"timed out connecting to {host}"))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        # Never retried: the server may have processed the request and rotated the token.
        return _timed_out(host, profile)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _before_sending(exc):
            return _Retryable(TransientError(f"cannot connect to {host}: {_reason(exc)}"))
        return TransientError(f"connection to {host} failed: {_reason(exc)}")
    if isinstance(exc, requests.exceptions.InvalidURL):
        return ConfigError(f"profile {profile.name!r}: invalid URL for {host}")
    if isinstance(exc, (requests.exceptions.InvalidHeader, UnicodeError)):
        return ConfigError(
            f"profile {profile.name!r}: a header value cannot be sent (a newline, or a "
            "character outside Latin-1)"
        )
    return TransientError(f"request to {host} failed: {type(exc).__name__}")


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
