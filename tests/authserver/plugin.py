"""pytest plugin: a real OAuth 2.0 authorization server (django-oauth-toolkit).

Register with ``pytest_plugins = ["tests.authserver.plugin"]`` in the root conftest, or
``-p tests.authserver.plugin`` on the command line. It provides one session-scoped
fixture, ``auth_server`` (an :class:`AuthServer`), backed by ``python -m
tests.authserver.serve`` running in its own process group on 127.0.0.1 with a
temporary SQLite database; and ``login_server``, the same server for one test, with the
test switches (slow_down, device interval/expiry, iss) reset before and after it.
What the login tests get is documented in ``tests/authserver/login.py``.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from tests.authserver.login import LoginHelpers

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
DEFAULT_ACCESS_TOKEN_TTL = 300


class AuthServerError(RuntimeError):
    """The authorization server could not be started (message includes its stderr)."""


@dataclass(frozen=True)
class Client:
    """An OAuth client registered on the server."""

    name: str
    client_id: str
    client_secret: str | None  # None for the public client
    auth_method: str  # "client_secret_basic" | "client_secret_post" | "none"
    # "password" | "client_credentials" | "authorization_code"
    # | "urn:ietf:params:oauth:grant-type:device_code" (what the token request sends)
    grant_type: str
    client_type: str  # "confidential" | "public"
    redirect_uris: tuple[str, ...] = ()  # as registered at start (authcode clients)

    def __post_init__(self) -> None:
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))

    def basic_auth_header(self) -> str:
        """``Basic base64(urlenc(id):urlenc(secret))`` as in RFC 6749 §2.3.1."""
        if self.client_secret is None:
            raise ValueError(f"client {self.name!r} is public: it has no secret")
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self.client_secret)}"
        return "Basic " + base64.b64encode(raw.encode("utf-8")).decode("ascii")

    def apply_auth(
        self, data: dict[str, str], headers: dict[str, str] | None = None, method: str | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Return ``(data, headers)`` with this client's authentication added.

        ``method`` overrides :attr:`auth_method` (confidential clients may use both).
        """
        method = method or self.auth_method
        data = dict(data)
        headers = dict(headers or {})
        if method == "client_secret_basic":
            headers["Authorization"] = self.basic_auth_header()
        elif method == "client_secret_post":
            data["client_id"] = self.client_id
            data["client_secret"] = self.client_secret or ""
        elif method == "none":
            data["client_id"] = self.client_id
        else:
            raise ValueError(f"unknown auth method {method!r}")
        return data, headers


class AuthServer(LoginHelpers):
    """A running test authorization server and helpers to talk to it.

    Attributes: ``base_url``, ``token_url``, ``revocation_url``, ``introspection_url``,
    ``protected_url``, ``clients`` (name -> :class:`Client`: ``basic``, ``post``,
    ``public``, ``cc``, ``special``, ``authcode_public``, ``authcode_basic``,
    ``device_public``, ``device_basic``), ``username``, ``password``, ``access_token_ttl``,
    ``pid``, ``log_path``. For login: ``issuer``, ``authorization_url``,
    ``device_authorization_url``, ``device_verification_url``, ``login_url``,
    ``openid_configuration_url``, ``oauth_metadata_url``, ``jwks_url``, ``userinfo_url``,
    ``browser_script`` and the methods of :class:`~tests.authserver.login.LoginHelpers`.
    """

    def __init__(self, info: dict[str, Any], process: subprocess.Popen, log_path: Path):
        self._process = process
        self.pid: int = process.pid
        self.log_path = log_path
        self.port: int = info["port"]
        self.base_url: str = info["base_url"]
        self.token_url = self.base_url + "/o/token/"
        self.revocation_url = self.base_url + "/o/revoke_token/"
        self.introspection_url = self.base_url + "/o/introspect/"
        self.protected_url = self.base_url + "/api/hello"
        self.username: str = info["username"]
        self.password: str = info["password"]
        self.access_token_ttl: int = info["access_token_ttl"]
        self.clients: dict[str, Client] = {
            name: Client(name=name, **fields) for name, fields in info["clients"].items()
        }
        self.startup_seconds: float | None = None
        self._session = None
        self._init_login_urls()

    def __repr__(self) -> str:
        return f"<AuthServer {self.base_url} pid={self.pid}>"

    # -- plumbing ---------------------------------------------------------------------

    @property
    def session(self):
        """A ``requests.Session`` that ignores proxy environment variables."""
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.trust_env = False
        return self._session

    def client(self, client: str | Client) -> Client:
        return client if isinstance(client, Client) else self.clients[client]

    def log(self) -> str:
        """The server's stderr so far (one line per request, plus errors)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def is_running(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        _stop_process(self._process)

    # -- OAuth helpers ------------------------------------------------------------------

    def token_request(
        self, client: str | Client = "basic", auth_method: str | None = None, **form: str
    ):
        """POST ``form`` to the token endpoint with the client's authentication;
        returns the ``requests.Response`` whatever its status."""
        c = self.client(client)
        data, headers = c.apply_auth(form, {"Accept": "application/json"}, auth_method)
        return self.session.post(self.token_url, data=data, headers=headers, timeout=10)

    def mint_tokens(self, client: str | Client = "basic", scope: str | None = "read write") -> dict:
        """A fresh token response (dict) for ``client``: the password grant for the test
        user, or the client_credentials grant for the ``cc`` client (no refresh token)."""
        c = self.client(client)
        form = {"grant_type": c.grant_type}
        if c.grant_type == "password":
            form.update(username=self.username, password=self.password)
        if scope is not None:
            form["scope"] = scope
        response = self.token_request(c, **form)
        if response.status_code != 200:
            raise AssertionError(
                f"minting tokens for client {c.name!r} failed: "
                f"{response.status_code} {response.text}"
            )
        return response.json()

    def mint_refresh_token(
        self, client: str | Client = "basic", scope: str | None = "read write"
    ) -> str:
        return self.mint_tokens(client, scope)["refresh_token"]

    def mint_access_token(
        self, client: str | Client = "basic", scope: str | None = "read write"
    ) -> str:
        return self.mint_tokens(client, scope)["access_token"]

    def refresh(self, refresh_token: str, client: str | Client = "basic", **form: str):
        """The refresh_token grant; returns the ``requests.Response``."""
        return self.token_request(
            client, grant_type="refresh_token", refresh_token=refresh_token, **form
        )

    def introspect(self, token: str, client: str | Client = "basic") -> dict:
        """RFC 7662 introspection, the caller authenticated as a confidential client
        with HTTP Basic. Returns the JSON body (``{"active": false}`` for unknown,
        expired or revoked tokens)."""
        c = self.client(client)
        response = self.session.post(
            self.introspection_url,
            data={"token": token},
            headers={"Authorization": c.basic_auth_header(), "Accept": "application/json"},
            timeout=10,
        )
        if response.status_code != 200:
            raise AssertionError(f"introspection failed: {response.status_code} {response.text}")
        return response.json()

    def revoke(
        self, token: str, client: str | Client = "basic", token_type_hint: str | None = None
    ):
        """RFC 7009 revocation with the client's authentication; returns the Response."""
        c = self.client(client)
        form = {"token": token}
        if token_type_hint:
            form["token_type_hint"] = token_type_hint
        data, headers = c.apply_auth(form)
        return self.session.post(self.revocation_url, data=data, headers=headers, timeout=10)


# -- process management -----------------------------------------------------------------


def _stop_process(process: subprocess.Popen) -> None:
    """Terminate the server's process group, then kill it; always reap the child."""
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            if stream is not None:
                stream.close()  # closing stdin also makes the server's watchdog exit
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # Kill the whole group even if the leader is gone (nothing else should be left).
    _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_TIMEOUT)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, sig)
        elif sig == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _read_ready_line(process: subprocess.Popen, deadline: float) -> bytes:
    buf = b""
    assert process.stdout is not None
    if os.name != "posix":  # no select() on pipes: read in a thread, wait with a timeout
        import threading

        result: list[bytes] = []
        reader = threading.Thread(
            target=lambda: result.append(process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        return result[0] if result else b""
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sel.select(min(remaining, 0.5)):
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:  # EOF: the server died
                    break
                buf += chunk
            elif process.poll() is not None:
                break
    return buf


def start_auth_server(
    workdir: Path, access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
) -> AuthServer:
    """Start the server with its database and log in ``workdir``; return when it is ready.

    Raises :class:`AuthServerError` (with the server's stderr) if it does not become ready
    within ``READY_TIMEOUT`` seconds; the process is then already stopped.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "authserver.sqlite3"
    log_path = workdir / "authserver.log"
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env["PYTHONUNBUFFERED"] = "1"
    # DOT warns (DeprecationWarning) on every password grant; never let -W error settings
    # inherited from the environment turn that into a 500.
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    cmd = [
        sys.executable,
        "-m",
        "tests.authserver.serve",
        "--db",
        str(db_path),
        "--port",
        "0",
        "--access-token-ttl",
        str(access_token_ttl),
        "--exit-on-stdin-eof",
    ]
    popen_kwargs: dict[str, Any] = {}
    if os.name == "posix":
        popen_kwargs["start_new_session"] = True
    else:
        popen_kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)

    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            cmd,
            cwd=str(REPO_ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            bufsize=0,
            **popen_kwargs,
        )
    try:
        started = time.monotonic()
        line = _read_ready_line(process, started + READY_TIMEOUT)
        try:
            info = json.loads(line.decode("utf-8"))
            if not isinstance(info, dict) or "port" not in info:
                raise ValueError("no port in the ready line")
        except ValueError as exc:
            timed_out = time.monotonic() - started >= READY_TIMEOUT
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0 if timed_out else 2)  # it closed stdout: let it finish dying
            status = process.poll()
            state = f"exited with status {status}" if status is not None else "still running"
            if timed_out:
                what = f"no ready line within {READY_TIMEOUT:g} s"
            elif not line:
                what = "it closed stdout without printing the ready line"
            else:
                what = f"unparseable ready line {line[:500]!r} ({exc})"
            stderr = log_path.read_text(errors="replace")[-8000:]
            raise AuthServerError(
                f"test authorization server failed to start: {what}; process {state}.\n"
                f"command: {' '.join(cmd)}\n--- server stderr ---\n{stderr}"
            ) from None
        server = AuthServer(info, process, log_path)
        server.startup_seconds = time.monotonic() - started
        return server
    except BaseException:
        _stop_process(process)
        raise


@contextlib.contextmanager
def running_auth_server(workdir: Path, **kwargs: Any) -> Iterator[AuthServer]:
    """Context manager form of :func:`start_auth_server` (stops the server on exit)."""
    server = start_auth_server(workdir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def _missing_requirements() -> list[str]:
    return [
        name
        for name in ("django", "oauth2_provider", "requests")
        if importlib.util.find_spec(name) is None
    ]


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A running django-oauth-toolkit server, shared by the whole session."""
    missing = _missing_requirements()
    if missing:
        pytest.skip(
            "test authorization server needs django-oauth-toolkit: cannot import "
            + ", ".join(missing)
        )
    server = start_auth_server(tmp_path_factory.mktemp("authserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def login_server(auth_server: AuthServer) -> Iterator[AuthServer]:
    """The session's server, with its test switches at their defaults during the test."""
    auth_server.reset_switches()
    try:
        yield auth_server
    finally:
        auth_server.reset_switches()
