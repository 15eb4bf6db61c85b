"""``${github_oidc:AUDIENCE}``: the GitHub Actions OIDC ID token of the running job (SPEC §12).

The runner gives a job with ``permissions: id-token: write`` two variables; the token is
``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUDIENCE`` with ``Authorization: bearer
$ACTIONS_ID_TOKEN_REQUEST_TOKEN``, answered ``{"value": "<JWT>"}``. Each audience is fetched once
per run and reused while it has time left; it lives in memory only and is a registered secret.
The request goes through wire.http.send: timeouts, no redirects, 1 MiB cap, https unless loopback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from oauthcli import boundedjson
from oauthcli.config.refs import GITHUB_OIDC_VARIABLES, outside_actions, preview
from oauthcli.errors import BadResponseError, ConfigError, ProviderError, TransientError
from oauthcli.redact import Secrets
from oauthcli.safetext import printable

if TYPE_CHECKING:
    import requests

    from oauthcli.wire.response import HttpResult

log = logging.getLogger("oauthcli.http")

REUSE_MARGIN = 60.0  # reuse a cached token only while it has more than this left
_HOST = "GitHub Actions' ID token endpoint"


class GitHubIdTokens:
    """The ID tokens of this job, one per audience, fetched on first use within the run."""

    def __init__(
        self,
        environ: Mapping[str, str],
        secrets: Secrets,
        session: Callable[[], requests.Session] | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        import time

        self.environ = environ
        self.secrets = secrets
        self.session = session or _own_session()
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        self.preview = False  # a dry run: show the reference, contact nobody
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()  # concurrent profiles of one run fetch an audience once

    def __call__(self, profile: str, audience: str, where: str) -> str:
        if self.preview:
            return preview(f"${{github_oidc:{audience}}}")
        with self._lock:
            cached = self._cache.get(audience)
            if cached and cached[1] - self.clock() > REUSE_MARGIN:
                log.debug("GitHub Actions ID token for %s: reused from this run", audience)
                return cached[0]
            token, expires_at = self._fetch(profile, audience, where)
            self._cache[audience] = (token, expires_at)
            return token

    def _fetch(self, profile: str, audience: str, where: str) -> tuple[str, float]:
        from oauthcli.config.model import Profile
        from oauthcli.wire import http
        from oauthcli.wire.request import TokenRequest

        base, request_token = self._variables(profile, where)
        self.secrets.add(request_token)
        url = base + ("&" if urlsplit(base).query else "?") + "audience=" + quote(audience, "")
        _check_url(url, profile, where)
        headers = {"Authorization": f"bearer {request_token}", "Accept": "application/json"}
        request = TokenRequest("GET", url, headers, {}, None, self.secrets)
        result = http.send(request, Profile(name=profile), self.session(), self.sleep)
        token = _token_from(result, audience, self.secrets)
        return token, _expires_at(token)

    def _variables(self, profile: str, where: str) -> tuple[str, str]:
        url, token = (self.environ.get(name, "") for name in GITHUB_OIDC_VARIABLES)
        if url and token:
            return url, token
        in_actions = self.environ.get("GITHUB_ACTIONS") == "true"
        raise ConfigError(
            f"profile {profile!r}, field {where}: ${{github_oidc:…}} resolves only in a "
            f"GitHub Actions job {outside_actions()}",
            hint="add `permissions: id-token: write` to the job"
            if in_actions
            else "outside GitHub Actions give the token another way, e.g. ${env:CI_ID_TOKEN}",
        )


def _own_session() -> Callable[[], requests.Session]:
    made: list[requests.Session] = []

    def session() -> requests.Session:
        from oauthcli.wire.http import new_session

        if not made:
            made.append(new_session(pool_size=1))
        return made[0]

    return session


def _check_url(url: str, profile: str, where: str) -> None:
    """The request token travels with this request: https only, or plain http on loopback."""
    from oauthcli.wire.request import is_loopback

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return
    raise ConfigError(
        f"profile {profile!r}, field {where}: ACTIONS_ID_TOKEN_REQUEST_URL is not an https:// "
        "URL; the request token is not sent there"
    )


def _token_from(result: HttpResult, audience: str, secrets: Secrets) -> str:
    """The ``value`` of a 200 answer, registered as a secret; anything else is an error."""
    status = result.status
    log.debug("GitHub Actions ID token for %s: HTTP %s", audience, status)
    if 300 <= status < 400:
        location = printable(secrets.redact_text(result.headers.get("location", "?")), 200)
        raise BadResponseError(
            f"{_HOST} answered HTTP {status} redirecting to {location}; redirects are not "
            "followed because they would resend the request token"
        )
    if status == 429 or status >= 500:
        raise TransientError(f"{_HOST} answered HTTP {status}", hint="try again later")
    data = _json(result.body)
    if status != 200:
        message = printable(secrets.redact_text(str(data.get("message", ""))), 200) if data else ""
        raise ProviderError(
            f"{_HOST} refused the request for audience {audience}: HTTP {status}"
            + (f" ({message})" if message else ""),
            hint="the job needs `permissions: id-token: write`; the request token is valid "
            "only while the job runs",
            status=status,
        )
    token = data.get("value") if data else None
    if not isinstance(token, str) or not token.strip():
        raise BadResponseError(f"{_HOST} answered HTTP 200 without a token in 'value'")
    secrets.add(token)
    return token.strip()


def _json(body: bytes) -> dict[str, object] | None:
    try:
        data = boundedjson.loads(body.decode("utf-8"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _expires_at(token: str) -> float:
    """The token's ``exp`` (read, not verified: the server that receives it verifies it)."""
    from oauthcli.wire.assertion import peek

    parts = peek(token)
    exp = parts[1].get("exp") if parts else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return float(exp)
    return float("inf")  # unknown lifetime: reused for the rest of this run
