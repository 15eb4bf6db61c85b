"""What the ``auth_server`` fixture offers for ``oauthcli login`` tests (a mixin of AuthServer).

Clients (``auth_server.clients[name]``), all for the test user:

- ``authcode_public`` (``oauthcli-authcode-public``, auth method ``none``) and
  ``authcode_basic`` (``oauthcli-authcode-basic``, ``client_secret_basic``): authorization
  code, PKCE required with S256 (``plain`` is rejected), redirect URIs
  ``http://127.0.0.1/callback``, ``http://[::1]/callback``, ``http://localhost/callback``,
  any port (RFC 8252 §7.3, as DOT 3.4 implements it). Other URIs:
  :meth:`LoginHelpers.register_redirect_uri`.
- ``device_public`` (``oauthcli-device-public``, ``none``) and ``device_basic``
  (``oauthcli-device-basic``, ``client_secret_basic``): the RFC 8628 device grant.

Scopes: ``read``, ``write``, ``introspection``, ``openid`` (ID token signed RS256, ``nonce``
echoed), ``offline_access`` (accepted, changes nothing: DOT always issues refresh tokens).

Switches (server-wide, until changed; the ``login_server`` fixture resets them around a
test): :meth:`configure` with ``slow_down`` (answer ``slow_down`` to the next N device
polls), ``device_interval`` and ``device_expires_in`` (seconds, in the device authorization
response and enforced), ``iss_parameter`` (RFC 9207: ``iss`` in authorization responses
and ``authorization_response_iss_parameter_supported: true`` in the metadata).

The request log: every request with its arrival time on the server's monotonic clock
(``t``), see :meth:`requests`, :meth:`device_polls`, :meth:`poll_times`, :meth:`poll_gaps`.

DOT 3.4.1 (with oauthlib 4.0.1) behaviour worth knowing:

- redirect URIs match exactly (scheme, host, path, query) except the port of a registered
  ``http`` loopback URI (127.0.0.1, ::1; localhost via ALLOW_LOCALHOST_LOOPBACK);
- an authorize request with an unregistered redirect_uri gets a 400 error page, never a
  redirect; a missing or ``plain`` code_challenge is redirected as ``invalid_request``;
- ``iss`` (switch ``iss_parameter``) is added to successful responses only: a denial
  redirects with ``error=access_denied&state=...`` and no ``iss``;
- the device authorization request needs ``client_id`` in the body even with HTTP Basic;
  pending, denied and expired polls are answered before client authentication (only an
  approved code is checked against the client: another client gets ``invalid_grant``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
BROWSER_SCRIPT = Path(__file__).resolve().parents[1] / "browser.py"


def pkce_pair() -> tuple[str, str]:
    """``(code_verifier, code_challenge)`` for S256 (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LoginHelpers:
    """Mixed into ``AuthServer``: URLs, switches, the request log, device grants, browser."""

    base_url: str
    username: str
    password: str
    clients: dict[str, Any]

    def _init_login_urls(self) -> None:
        base = self.base_url
        self.issuer = base + "/o"
        self.authorization_url = base + "/o/authorize/"
        self.device_authorization_url = base + "/o/device-authorization/"
        self.device_verification_url = base + "/o/device/"
        self.login_url = base + "/accounts/login/"
        self.openid_configuration_url = base + "/o/.well-known/openid-configuration"
        self.oauth_metadata_url = base + "/.well-known/oauth-authorization-server/o"
        self.jwks_url = base + "/o/.well-known/jwks.json"
        self.userinfo_url = base + "/o/userinfo/"
        self.browser_script = BROWSER_SCRIPT

    # -- plumbing -------------------------------------------------------------------------

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=10, **kwargs)  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    # -- switches -------------------------------------------------------------------------

    def switches(self) -> dict[str, Any]:
        return self._control("GET", "/_test/config")

    def configure(self, **switches: Any) -> dict[str, Any]:
        """Set switches (``slow_down``, ``device_interval``, ``device_expires_in``,
        ``iss_parameter``; None = the default); returns them all."""
        return self._control("POST", "/_test/config", json=switches)

    def reset_switches(self) -> dict[str, Any]:
        return self._control("POST", "/_test/config", json={"reset": True})

    def slow_down(self, polls: int = 1) -> None:
        """The next ``polls`` device polls (any device_code) get 400 ``slow_down``."""
        self.configure(slow_down=polls)

    @contextlib.contextmanager
    def switched(self, **switches: Any) -> Iterator[dict[str, Any]]:
        """``with auth_server.switched(device_interval=1): ...``; all switches reset after."""
        try:
            yield self.configure(**switches)
        finally:
            self.reset_switches()

    # -- redirect URIs --------------------------------------------------------------------

    def redirect_uris(self, client: Any = "authcode_public") -> list[str]:
        c = self.client(client)  # type: ignore[attr-defined]
        return self._control("GET", "/_test/redirect_uris", params={"client_id": c.client_id})[
            "redirect_uris"
        ]

    def register_redirect_uri(self, client: Any, uri: str) -> list[str]:
        """Add ``uri`` to the client's registered redirect URIs (exact match, except the
        port of http://127.0.0.1, http://[::1] and http://localhost); returns them all."""
        c = self.client(client)  # type: ignore[attr-defined]
        body = {"client_id": c.client_id, "add": [uri]}
        return self._control("POST", "/_test/redirect_uris", json=body)["redirect_uris"]

    def set_redirect_uris(self, client: Any, uris: list[str]) -> list[str]:
        c = self.client(client)  # type: ignore[attr-defined]
        body = {"client_id": c.client_id, "set": list(uris)}
        return self._control("POST", "/_test/redirect_uris", json=body)["redirect_uris"]

    # -- the request log ------------------------------------------------------------------

    def server_clock(self) -> dict[str, float]:
        """The server's clocks now: ``t`` (time.monotonic()) and ``wall`` (time.time())."""
        return self._control("GET", "/_test/requests", params={"since": sys.maxsize})["now"]

    def log_mark(self) -> int:
        """The sequence number of the last logged request: pass it as ``since=``."""
        return self._control("GET", "/_test/requests", params={"since": sys.maxsize})["last_seq"]

    def requests(self, since: int = 0, path: str | None = None) -> list[dict[str, Any]]:
        """Logged requests after ``since`` (see ``middleware.py`` for the fields), oldest
        first; ``path`` keeps those with exactly that path (e.g. ``"/o/token/"``)."""
        entries = self._control("GET", "/_test/requests", params={"since": since})["requests"]
        return [e for e in entries if path is None or e["path"] == path]

    def device_polls(self, device_code: str | None = None, since: int = 0) -> list[dict]:
        """Device-grant token requests (each with ``t``, ``status``, ``error``)."""
        return [
            e
            for e in self.requests(since, path="/o/token/")
            if e["grant_type"] == DEVICE_GRANT_TYPE
            and (device_code is None or e["device_code"] == device_code)
        ]

    def poll_times(self, device_code: str | None = None, since: int = 0) -> list[float]:
        """Arrival times (server monotonic clock, seconds) of the device polls."""
        return [e["t"] for e in self.device_polls(device_code, since)]

    def poll_gaps(self, device_code: str | None = None, since: int = 0) -> list[float]:
        """Seconds between consecutive device polls, as the server saw them."""
        times = self.poll_times(device_code, since)
        return [b - a for a, b in zip(times, times[1:], strict=False)]

    # -- authorization code ---------------------------------------------------------------

    def authorize_url(
        self,
        client: Any = "authcode_public",
        *,
        redirect_uri: str,
        code_challenge: str,
        state: str,
        scope: str = "read write",
        nonce: str | None = None,
        **params: str,
    ) -> str:
        """An authorization request URL (response_type=code, S256)."""
        query = {
            "response_type": "code",
            "client_id": self.client(client).client_id,  # type: ignore[attr-defined]
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **({"nonce": nonce} if nonce else {}),
            **params,
        }
        return self.authorization_url + "?" + urlencode(query)

    def exchange_code(
        self, client: Any, code: str, redirect_uri: str, code_verifier: str | None, **form: str
    ):
        """The authorization_code grant with the client's authentication; the Response."""
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            fields["code_verifier"] = code_verifier
        return self.token_request(client, **fields, **form)  # type: ignore[attr-defined]

    def browser_env(self, action: str = "approve", log: str | Path | None = None, **extra: str):
        """Environment for a process that opens the browser with ``webbrowser``:
        ``BROWSER`` = tests/browser.py, ``TEST_BROWSER_*`` (see that script)."""
        env = {
            "BROWSER": str(self.browser_script),
            "TEST_BROWSER_ACTION": action,
            "TEST_BROWSER_USERNAME": self.username,
            "TEST_BROWSER_PASSWORD": self.password,
            "TEST_BROWSER_PYTHON": sys.executable,
        }
        if log is not None:
            env["TEST_BROWSER_LOG"] = str(log)
        env.update({f"TEST_BROWSER_{k.upper()}": str(v) for k, v in extra.items()})
        return env

    # -- device flow ----------------------------------------------------------------------

    def device_authorization(self, client: Any = "device_public", scope: str | None = "read"):
        """POST to the device authorization endpoint; returns the JSON (raises if not 200)."""
        c = self.client(client)  # type: ignore[attr-defined]
        form = {"client_id": c.client_id}
        if scope is not None:
            form["scope"] = scope
        data, headers = c.apply_auth(form)
        data["client_id"] = c.client_id  # oauthlib wants it even with HTTP Basic
        response = self.session.post(  # type: ignore[attr-defined]
            self.device_authorization_url, data=data, headers=headers, timeout=10
        )
        if response.status_code != 200:
            raise AssertionError(f"device authorization: {response.status_code} {response.text}")
        return response.json()

    def device_poll(self, device_code: str, client: Any = "device_public"):
        """One device token request; the Response."""
        return self.token_request(client, grant_type=DEVICE_GRANT_TYPE, device_code=device_code)  # type: ignore[attr-defined]

    def device_grant(self, user_code: str) -> dict[str, Any]:
        """``{"status": "authorization-pending"|"authorized"|"denied"|"expired", "interval",
        "expires_at" (epoch), "client_id", "scope", "user"}`` of a device grant."""
        return self._control("GET", "/_test/device", params={"user_code": user_code})

    def set_device_status(self, user_code: str, status: str) -> dict[str, Any]:
        """Shortcut past the verification pages: ``authorized`` | ``denied`` | ``expired``
        | ``authorization-pending``."""
        body = {"user_code": user_code, "status": status, "username": self.username}
        return self._control("POST", "/_test/device", json=body)

    def approve_device(self, user_code: str, approve: bool = True) -> dict[str, Any]:
        """Approve (or deny) like a user: log in, enter the code, press the button, with
        plain HTTP on the verification pages (tests/browser.py). Returns its report."""
        from tests import browser

        return browser.device_decision(
            self.device_verification_url,
            user_code,
            username=self.username,
            password=self.password,
            approve=approve,
        )

    def deny_device(self, user_code: str) -> dict[str, Any]:
        return self.approve_device(user_code, approve=False)
