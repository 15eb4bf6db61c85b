"""The authorization response (RFC 6749 §4.1.2): checked before any code is exchanged.

In this order: every parameter at most once; ``state`` equal to ours (else the redirect may be
forged or stale: nothing is exchanged); RFC 9207 ``iss`` equal to the issuer when present, and
required on a code when the metadata advertises it; then an ``error`` is reported, or the code
returned. An error redirect without ``iss`` is still reported as the error it names (DOT and
others omit ``iss`` there): no code comes with it, so nothing can be mixed up, and the login
fails either way.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from oauthcli.errors import BadResponseError, ProviderError
from oauthcli.redact import Secrets

HINTS = {
    "access_denied": "the sign-in was cancelled or refused; run oauthcli login again to retry",
    "invalid_scope": "the provider does not allow the profile's scope for this client",
    "invalid_request": "the provider refused the authorization request: check auth.client_id, "
    "login.redirect_uri (registered exactly, port included) and login.params",
    "unauthorized_client": "this client may not use the authorization code flow: check the "
    "app's settings at the provider",
    "unsupported_response_type": "this client may not use the authorization code flow",
}
RETRY = "run oauthcli login again; if it keeps happening, another program may be answering "
RETRY += "this login's redirect"


@dataclass(frozen=True)
class Expected:
    state: str
    issuer: str | None = None  # compared with iss when known
    iss_required: bool = False  # the metadata says authorization_response_iss_parameter_supported


def authorization_code(query: str, expected: Expected, secrets: Secrets) -> str:
    """The code of a successful authorization response, or the error that stops the login."""
    params = _params(query, secrets)
    state = params.get("state")
    if state is None or not hmac.compare_digest(state.encode(), expected.state.encode()):
        said = f" (it reports {params['error']!r})" if "error" in params else ""
        what = "has no state" if state is None else "has a state that is not this login's"
        raise ProviderError(f"the redirect {what}{said}: ignored, nothing was exchanged",
                            hint=RETRY)  # fmt: skip
    _check_iss(params, expected)
    if "error" in params:
        raise _refusal(params)
    code = params.get("code")
    if not code:
        raise BadResponseError("the redirect carried neither a code nor an error")
    return code


def _params(query: str, secrets: Secrets) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True)
    for key, value in pairs:
        if key == "code":
            secrets.add(value)
    params = dict(pairs)
    if len(params) != len(pairs):  # RFC 6749 §3.1: no parameter more than once
        repeated = sorted({k for k, _ in pairs if [p for p, _ in pairs].count(k) > 1})
        raise ProviderError(f"the redirect repeats {', '.join(repeated)}: ignored, "
                            "nothing was exchanged", hint=RETRY)  # fmt: skip
    return params


def _check_iss(params: dict[str, str], expected: Expected) -> None:
    iss = params.get("iss")
    if iss is None:
        if expected.iss_required and "error" not in params:
            raise ProviderError(
                "the redirect has no iss, which the issuer's metadata promises (RFC 9207): "
                "ignored, nothing was exchanged", hint=RETRY)  # fmt: skip
        return
    if expected.issuer is not None and iss != expected.issuer:
        raise ProviderError(
            f"the redirect names issuer {iss[:200]!r}, not {expected.issuer!r} (RFC 9207 "
            "mix-up defence): ignored, nothing was exchanged", hint=RETRY)  # fmt: skip


def _refusal(params: dict[str, str]) -> ProviderError:
    error = params["error"][:100]
    description = " ".join(params.get("error_description", "").split())[:300] or None
    detail = f": {description}" if description else ""
    return ProviderError(
        f"the authorization server refused the sign-in: {error}{detail}",
        hint=HINTS.get(error), error=error, error_description=description,
    )  # fmt: skip
