"""Understand the token endpoint's answer (RFC 6749 §5.1/§5.2) and map it to SPEC §4 errors."""


import json
import logging
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from oauthcli.config.model import Profile
from oauthcli.errors import BadResponseError, ProviderError, TransientError
from oauthcli.redact import Secrets, redact_value, register_fields
from oauthcli.safetext import printable
from oauthcli.token import dig
from oauthcli.wire.request import FORM

log = logging.getLogger("oauthcli.http")

HINTS = {
    "invalid_grant": "the refresh token is dead (expired, revoked or already used): "
    "a person must authorise again and put the new refresh token in the profile",
    "invalid_client": "check client_id and client_secret, and how the client authenticates "
    "(auth: {type: basic} or credentials in the body)",
    "unauthorized_client": "this client may not use this grant type; check the app's settings",
    "invalid_scope": "the requested scope is not allowed for this client or refresh token",
    "unsupported_grant_type": "check grant_type in the profile's body",
}


class HttpResult(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes
    secrets: Secrets  # the request's registry
    url: str | None = None  # what was asked, for messages

    def __repr__(self) -> str:  # never the body or the registry: they hold secrets
        return f"HttpResult(status={self.status!r}, url={self.url!r})"


def where(result: HttpResult, host: str) -> str:
    """``host[:port]/path`` of the request, for messages: never its query or userinfo, which
    may hold secrets. ``host`` alone when the URL is not known."""
    url = result.url or (host if "://" in host else None)
    if not url:
        return host
    parts = urlsplit(url)
    netloc = parts.hostname or host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return printable(result.secrets.redact_text(f"{netloc}{parts.path or '/'}"), 200)


def parse_body(result: HttpResult) -> dict[str, Any] | None:
    """JSON or form-encoded; None when the body is neither."""
    content_type = result.headers.get("content-type", "").lower()
    text = result.body.decode("utf-8", "replace").strip()
    if not text:
        return None
    if "json" in content_type or text[:1] in "{[":
        from oauthcli.boundedjson import loads

        try:
            data = loads(text)
        except ValueError:  # unparseable, too large or too deep: unusable (exit 6)
            return None
        return data if isinstance(data, dict) else None
    if FORM in content_type or "text/plain" in content_type:
        pairs = parse_qsl(text, keep_blank_values=True)
        if FORM not in content_type and not all(_FIELD.fullmatch(k) and v for k, v in pairs):
            return None  # e.g. a bare base64 token: not form data, and not to be echoed
        return dict(pairs) if pairs else None
    return None


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def check_response(result: HttpResult, profile: Profile, host: str) -> dict[str, Any]:
    """The parsed token response, or the error of SPEC §4 that the answer deserves."""
    named, host = host, printable(urlsplit(host).hostname or host if "://" in host else host, 200)
    if 300 <= result.status < 400:
        location = result.headers.get("location", "(no Location)")
        raise BadResponseError(
            f"{host} answered HTTP {result.status} redirecting to "
            f"{printable(result.secrets.redact_text(location), 200)}; "
            "redirects are not followed because they would resend secrets",
            hint="set token_url to the final URL",
        )
    data = parse_body(result)
    if data is not None:
        register_fields(data, result.secrets)
        for name in ("access_token", "refresh_token", "id_token"):  # also at mapped paths
            result.secrets.add(dig(data, profile.field_path(name)))
        if log.isEnabledFor(logging.DEBUG):  # redaction costs as much as the run: -v only
            shown = json.dumps(redact_value(data, result.secrets))
            log.debug("response: HTTP %s %s", result.status, shown)
    else:
        log.debug("response: HTTP %s, %d bytes, not JSON or form", result.status, len(result.body))
    error = _oauth_error(data, profile, result.secrets)
    if result.status == 429 or result.status >= 500:
        detail = f" ({error[0]})" if error else ""
        raise TransientError(f"{host} answered HTTP {result.status}{detail}", hint=_later(result))
    if result.status == 404:  # a wrong URL, whatever the body says: name it
        raise _not_found(where(result, named), error, profile)
    if error or result.status >= 400:
        raise _provider_error(result.status, error, host, result.secrets, profile)
    if not 200 <= result.status < 300:
        raise BadResponseError(f"{host} answered HTTP {result.status}")
    if data is None:
        kind = "an empty body" if not result.body.strip() else _kind(result)
        raise BadResponseError(f"{host} answered HTTP {result.status} with {kind}")
    return data


def _later(result: HttpResult) -> str | None:
    after = result.headers.get("retry-after")
    return f"the server asks to retry after {printable(after, 40)}" if after else "try again later"


def _kind(result: HttpResult) -> str:
    content_type = result.headers.get("content-type", "unknown type").split(";")[0]
    return f"a body that is neither JSON nor form data ({printable(content_type, 100)})"


def _oauth_error(
    data: dict[str, Any] | None, profile: Profile, secrets: Secrets
) -> tuple[str, str | None] | None:
    if data is None:
        return None

    error = dig(data, profile.field_path("error"))
    if error is None and data.get("ok") is False:  # Slack
        error = "error"
    if error is None or error is False or error == "":
        return None
    if isinstance(error, dict):  # {"error": {"code": …, "message": …}} shapes
        code = error.get("code") or error.get("status") or "error"
        return _code(code, secrets), _short(error.get("message"), secrets)
    description = dig(data, profile.field_path("error_description")) or data.get("message")
    return _code(error, secrets), _short(description, secrets)


def _code(value: Any, secrets: Secrets) -> str:
    """The server's error code as data: one line, controls escaped, bounded."""
    return printable(secrets.redact_text(" ".join(str(value).split())), 100)


def _short(value: Any, secrets: Secrets) -> str | None:
    """An error_description as data (SPEC §13): whitespace runs made one space, controls
    escaped (no terminal escapes, no CR overwriting the line), at most 300 characters."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return printable(secrets.redact_text(text)[:300])  # cut after redacting: no secret's head


def _provider_error(
    status: int,
    error: tuple[str, str | None] | None,
    host: str,
    secrets: Secrets,
    profile: Profile,
) -> ProviderError:
    if error is None:
        return ProviderError(f"{host} refused the request: HTTP {status}", status=status)
    code, description = error
    detail = f": {description}" if description else ""
    return ProviderError(
        f"{host} refused the request: {secrets.redact_text(code)}{detail} (HTTP {status})",
        hint=_hint(profile, code),
        error=code,
        error_description=description,
        status=status,
    )


def _not_found(url: str, error: tuple[str, str | None] | None, profile: Profile) -> ProviderError:
    code, description = error or (None, None)
    said = f" ({code}{': ' + description if description else ''})" if code else ""
    hint = (_hint(profile, code) if code else None) or (
        "check the URL in the profile (token_url, validate, revocation_url or issuer)")
    return ProviderError(f"HTTP 404 Not Found: {url}{said}", hint=hint, error=code,
                         error_description=description, status=404)  # fmt: skip


def _hint(profile: Profile, code: str) -> str | None:
    """The client authentication's own hint for ``code``, else the generic one (a grant's own
    hint replaces the generic one in grants.driver: wire knows nothing of grants)."""
    from oauthcli.wire.clientauth import hint_for

    return hint_for(profile, code) or HINTS.get(code)
