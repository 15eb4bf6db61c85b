"""The infrastructure for ``oauthcli login`` tests, proved without oauthcli.

A throwaway loopback listener stands in for the product's redirect listener; the test
builds the authorize URL (S256 PKCE, state, nonce), tests/browser.py plays the user on the
real django-oauth-toolkit server (``auth_server``, see tests/authserver/login.py), and the
test exchanges the code and refreshes. The device flow is driven by hand the same way.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("oauth2_provider")

from tests import browser  # noqa: E402
from tests.authserver.login import pkce_pair  # noqa: E402

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


# --- a stand-in for the product's loopback listener -------------------------------------------


class Listener:
    """HTTP on 127.0.0.1 (or ::1), any free port: records every GET; answers /callback with
    200 once ``release`` is set (set from the start unless ``hold``), anything else 404."""

    def __init__(self, host: str = "127.0.0.1", hold: bool = False):
        self.got: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                outer.got.put((parts.path, query))
                outer.release.wait(30)
                found = parts.path == "/callback"
                body = b"You can close this window." if found else b"not found"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server_class = http.server.ThreadingHTTPServer
        if ":" in host:

            class V6(http.server.ThreadingHTTPServer):
                address_family = __import__("socket").AF_INET6

            server_class = V6
        self.httpd = server_class((host, 0), Handler)
        self.host = f"[{host}]" if ":" in host else host
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/callback") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def wait(self, timeout: float = 15.0, path: str = "/callback") -> dict[str, str]:
        """The query of the next GET on ``path`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got_path, query = self.got.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no GET {path} within {timeout} s") from None
            if got_path == path:
                return query

    def received(self) -> list[tuple[str, dict[str, str]]]:
        items = []
        while not self.got.empty():
            items.append(self.got.get_nowait())
        return items

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.stop()


@pytest.fixture
def browser_log(tmp_path: Path) -> Path:
    return tmp_path / "browser.log"


# --- helpers ----------------------------------------------------------------------------------


def new_request(auth_server, client: str, redirect_uri: str, scope: str = "openid read write"):
    """(authorize URL, code_verifier, state, nonce)"""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = auth_server.authorize_url(
        client,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        state=state,
        scope=scope,
        nonce=nonce,
    )
    return url, verifier, state, nonce


def in_process(auth_server, url: str, action: str = "none") -> dict[str, Any]:
    """tests/browser.py's flow in this process (``none``: the callback URL, not fetched)."""
    return browser.authorize(url, action, auth_server.username, auth_server.password)


def callback_query(result: dict[str, Any]) -> dict[str, str]:
    assert result["ok"], result
    return {k: v[0] for k, v in parse_qs(urlsplit(result["callback"]).query).items()}


def id_token_claims(auth_server, id_token: str, audience: str) -> dict[str, Any]:
    import jwt

    jwks = auth_server.session.get(auth_server.jwks_url, timeout=10).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    return jwt.decode(id_token, key, algorithms=["RS256"], audience=audience)


def open_with_webbrowser(env: dict[str, str], url: str) -> subprocess.CompletedProcess:
    """What the product does: Python's webbrowser honouring $BROWSER, in a process that
    waits for the browser command and captures its output."""
    code = "import sys, webbrowser; sys.exit(0 if webbrowser.open(sys.argv[1]) else 3)"
    return subprocess.run(
        [sys.executable, "-c", code, url],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=20,
    )


# --- the server: metadata, clients, redirect URIs ---------------------------------------------


@pytest.mark.parametrize("doc", ["openid_configuration_url", "oauth_metadata_url"])
def test_metadata_lists_the_login_endpoints(login_server, doc):
    metadata = login_server.session.get(getattr(login_server, doc), timeout=10).json()
    assert metadata["issuer"] == login_server.issuer == login_server.base_url + "/o"
    assert metadata["authorization_endpoint"] == login_server.authorization_url
    assert metadata["token_endpoint"] == login_server.token_url
    assert metadata["device_authorization_endpoint"] == login_server.device_authorization_url
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is False


def test_login_clients(login_server):
    clients = login_server.clients
    assert clients["authcode_public"].client_id == "oauthcli-authcode-public"
    assert clients["authcode_public"].auth_method == "none"
    assert clients["authcode_public"].client_secret is None
    assert clients["authcode_basic"].auth_method == "client_secret_basic"
    assert clients["authcode_basic"].grant_type == "authorization_code"
    assert "http://127.0.0.1/callback" in clients["authcode_basic"].redirect_uris
    assert clients["device_public"].grant_type == DEVICE_GRANT
    assert clients["device_basic"].client_secret
    assert login_server.redirect_uris("authcode_public") == list(
        clients["authcode_public"].redirect_uris
    )


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:1/callback", "http://127.0.0.1:54321/callback",
     "http://[::1]:40000/callback", "http://localhost:8123/callback"],
)  # fmt: skip
def test_loopback_redirect_uri_with_any_port(login_server, redirect_uri):
    url, _, state, _ = new_request(login_server, "authcode_public", redirect_uri)
    result = in_process(login_server, url)
    assert result["callback"].startswith(redirect_uri + "?")
    assert callback_query(result)["state"] == state


def test_unregistered_path_is_refused_until_registered(login_server):
    redirect_uri = "http://127.0.0.1:5000/other-path"
    before = login_server.redirect_uris("authcode_public")
    url, _, _, _ = new_request(login_server, "authcode_public", redirect_uri)
    refused = in_process(login_server, url)
    assert refused["ok"] is False and refused["status"] == 400, refused
    try:
        uris = login_server.register_redirect_uri("authcode_public", "http://127.0.0.1/other-path")
        assert "http://127.0.0.1/other-path" in uris
        assert callback_query(in_process(login_server, url))["code"]
    finally:
        assert login_server.set_redirect_uris("authcode_public", before) == before


def test_pkce_is_required_and_s256_only(login_server, listener):
    redirect_uri = listener.url()
    url, _, _, _ = new_request(login_server, "authcode_public", redirect_uri)
    no_pkce = url.split("&code_challenge=")[0]  # code_challenge and method are last
    assert callback_query(in_process(login_server, no_pkce))["error"] == "invalid_request"
    plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    assert callback_query(in_process(login_server, plain))["error"] == "invalid_request"


def test_code_exchange_checks_the_verifier_and_the_redirect_uri(login_server, listener):
    redirect_uri = listener.url()
    for verifier_kind in ("missing", "wrong", "other_redirect", "right"):
        url, verifier, _, _ = new_request(login_server, "authcode_public", redirect_uri)
        code = callback_query(in_process(login_server, url))["code"]
        used_redirect = redirect_uri
        if verifier_kind == "missing":
            verifier = None
        elif verifier_kind == "wrong":
            verifier = pkce_pair()[0]
        elif verifier_kind == "other_redirect":
            used_redirect = redirect_uri.replace(str(listener.port), str(listener.port + 1))
        r = login_server.exchange_code("authcode_public", code, used_redirect, verifier)
        if verifier_kind == "right":
            assert r.status_code == 200, r.text
        else:
            assert r.status_code in (400, 401), (verifier_kind, r.text)
            assert r.json()["error"] in ("invalid_request", "invalid_grant"), r.text


def test_iss_parameter_switch(login_server, listener):
    login_server.configure(iss_parameter=True)
    metadata = login_server.session.get(login_server.oauth_metadata_url, timeout=10).json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    url, _, state, _ = new_request(login_server, "authcode_public", listener.url())
    query = callback_query(in_process(login_server, url))
    assert query["iss"] == login_server.issuer and query["state"] == state
    denied = browser.authorize(url, "deny", login_server.username, login_server.password)
    assert callback_query(denied) == {"error": "access_denied", "state": state}  # DOT: no iss
    login_server.configure(iss_parameter=False)
    assert "iss" not in callback_query(in_process(login_server, url.replace(state, "s2")))


def test_request_log_records_the_token_exchange(login_server, listener):
    mark = login_server.log_mark()
    url, verifier, _, _ = new_request(login_server, "authcode_basic", listener.url())
    code = callback_query(in_process(login_server, url))["code"]
    assert login_server.exchange_code("authcode_basic", code, listener.url(), verifier).ok
    (entry,) = login_server.requests(since=mark, path="/o/token/")
    assert entry["form"]["code_verifier"] == verifier
    assert entry["form"]["redirect_uri"] == listener.url()
    assert entry["client_id"] == "oauthcli-authcode-basic" and entry["auth"] == "basic"
    assert entry["status"] == 200 and entry["t"] <= login_server.server_clock()["t"]
    assert [e["path"] for e in login_server.requests(since=mark)][:2] == [
        "/o/authorize/",
        "/accounts/login/",
    ]


# --- tests/browser.py as $BROWSER --------------------------------------------------------------


@pytest.mark.slow
def test_authorization_code_flow_through_browser_script(login_server, listener, browser_log):
    """$BROWSER → login → consent → callback → code exchange → refresh (rotation)."""
    redirect_uri = listener.url()
    url, verifier, state, nonce = new_request(login_server, "authcode_public", redirect_uri)
    opened = open_with_webbrowser(login_server.browser_env("approve", browser_log), url)
    assert opened.returncode == 0, opened
    query = listener.wait()
    assert query["state"] == state and query["code"] and "iss" not in query
    done = browser.wait_for_done(browser_log)
    assert done["ok"] and done["callback_status"] == 200, done
    assert done["callback_body"] == "You can close this window."

    r = login_server.exchange_code("authcode_public", query["code"], redirect_uri, verifier)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["access_token"]
    assert tokens["expires_in"] == login_server.access_token_ttl
    assert set(tokens["scope"].split()) == {"openid", "read", "write"}
    claims = id_token_claims(login_server, tokens["id_token"], "oauthcli-authcode-public")
    assert claims["nonce"] == nonce and claims["iss"] == login_server.issuer

    hello = login_server.session.get(
        login_server.protected_url,
        headers={"Authorization": "Bearer " + tokens["access_token"]},
        timeout=10,
    )
    assert hello.json()["hello"] == login_server.username

    refreshed = login_server.refresh(tokens["refresh_token"], "authcode_public")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    reused = login_server.refresh(tokens["refresh_token"], "authcode_public")
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


@pytest.mark.slow
def test_confidential_client_with_basic_auth(login_server, listener, browser_log):
    redirect_uri = listener.url()
    url, verifier, state, _ = new_request(login_server, "authcode_basic", redirect_uri, "read")
    opened = open_with_webbrowser(login_server.browser_env("approve", browser_log), url)
    assert opened.returncode == 0, opened
    query = listener.wait()
    assert query["state"] == state and query["code"], query
    unauthenticated = login_server.session.post(
        login_server.token_url,
        data={"grant_type": "authorization_code", "code": query["code"],
              "redirect_uri": redirect_uri, "code_verifier": verifier,
              "client_id": "oauthcli-authcode-basic"},
        timeout=10,
    )  # fmt: skip
    assert unauthenticated.status_code == 401, unauthenticated.text
    r = login_server.exchange_code("authcode_basic", query["code"], redirect_uri, verifier)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read" and "id_token" not in r.json()


@pytest.mark.slow
@pytest.mark.parametrize("action", ["deny", "bad_state", "no_state", "bad_iss"])
def test_browser_actions_reach_the_listener(login_server, listener, browser_log, action):
    url, _, state, _ = new_request(login_server, "authcode_public", listener.url())
    assert open_with_webbrowser(login_server.browser_env(action, browser_log), url).returncode == 0
    query = listener.wait()
    if action == "deny":
        assert query == {"error": "access_denied", "state": state}
    elif action == "bad_state":
        assert query["state"] == "tampered-" + state and query["code"]
    elif action == "no_state":
        assert "state" not in query and query["code"]
    else:
        assert query["iss"] == "https://evil.example" and query["state"] == state
    assert browser.wait_for_done(browser_log)["callback_status"] == 200


@pytest.mark.slow
def test_browser_action_none_never_calls_back(login_server, listener, browser_log):
    url, _, _, _ = new_request(login_server, "authcode_public", listener.url())
    assert open_with_webbrowser(login_server.browser_env("none", browser_log), url).returncode == 0
    done = browser.wait_for_done(browser_log)
    assert done["ok"] and done["called_back"] is False and "code=" in done["callback"]
    assert listener.received() == []


@pytest.mark.slow
def test_browser_actions_twice_and_favicon(login_server, listener, browser_log):
    for action, expected in (("twice", ["/callback", "/callback"]),
                             ("favicon", ["/favicon.ico", "/callback"])):  # fmt: skip
        browser_log.unlink(missing_ok=True)
        url, _, _, _ = new_request(login_server, "authcode_public", listener.url())
        assert (
            open_with_webbrowser(login_server.browser_env(action, browser_log), url).returncode == 0
        )
        browser.wait_for_done(browser_log)
        assert [path for path, _ in listener.received()] == expected


@pytest.mark.slow
def test_browser_script_detaches_at_once(login_server, browser_log):
    """The command exits 0 while its work is still blocked on the listener, and does not
    hold the caller's pipes (subprocess.run with capture_output would hang otherwise)."""
    held = Listener(hold=True)
    try:
        url, _, state, _ = new_request(login_server, "authcode_public", held.url())
        env = {**os.environ, **login_server.browser_env("approve", browser_log)}
        done = subprocess.run(
            [str(login_server.browser_script), url], env=env, capture_output=True, timeout=20
        )
        assert done.returncode == 0 and done.stdout == b"" and done.stderr == b"", done
        assert held.wait()["state"] == state  # reached the listener, which holds it...
        assert not [e for e in browser.read_log(browser_log) if e["event"] == "done"]
        held.release.set()  # ...until now
        assert browser.wait_for_done(browser_log)["callback_status"] == 200
        (start,) = [e for e in browser.read_log(browser_log) if e["event"] == "start"]
        assert start["action"] == "approve"
    finally:
        held.stop()


# --- the device flow -------------------------------------------------------------------------


def test_device_flow_with_the_verification_pages(login_server):
    login_server.configure(device_interval=1)
    grant = login_server.device_authorization("device_public", scope="read write")
    assert grant["interval"] == 1 and grant["expires_in"] == 1800
    assert grant["verification_uri"] == login_server.device_verification_url
    assert grant["verification_uri_complete"].endswith("?user_code=" + grant["user_code"])
    pending = login_server.device_poll(grant["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"

    report = login_server.approve_device(grant["user_code"])
    assert report["ok"], report
    assert login_server.device_grant(grant["user_code"])["status"] == "authorized"
    r = login_server.device_poll(grant["device_code"])
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["scope"] == "read write" and tokens["refresh_token"]
    again = login_server.device_poll(grant["device_code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refreshed = login_server.refresh(tokens["refresh_token"], "device_public")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_device_denied_on_the_verification_page(login_server):
    grant = login_server.device_authorization()
    assert login_server.deny_device(grant["user_code"])["ok"]
    r = login_server.device_poll(grant["device_code"])
    assert r.status_code == 400 and r.json()["error"] == "access_denied"
    refused = login_server.approve_device(grant["user_code"])  # already decided
    assert refused["ok"] is False


def test_device_confidential_client(login_server):
    client = login_server.clients["device_basic"]
    basic_only = login_server.session.post(
        login_server.device_authorization_url,
        data={"scope": "read"},
        headers={"Authorization": client.basic_auth_header()},
        timeout=10,
    )  # oauthlib wants client_id in the body too
    assert basic_only.status_code == 400, basic_only.text
    assert basic_only.json()["error"] == "invalid_request"
    wrong_secret = login_server.session.post(
        login_server.device_authorization_url,
        data={"scope": "read", "client_id": client.client_id, "client_secret": "nope"},
        timeout=10,
    )
    assert wrong_secret.status_code == 401, wrong_secret.text
    grant = login_server.device_authorization("device_basic", scope="read")
    login_server.set_device_status(grant["user_code"], "authorized")
    assert login_server.device_poll(grant["device_code"], "device_public").status_code == 400
    r = login_server.device_poll(grant["device_code"], "device_basic")
    assert r.status_code == 200, r.text


def test_device_expiry_switches(login_server):
    grant = login_server.device_authorization()
    login_server.set_device_status(grant["user_code"], "expired")
    r = login_server.device_poll(grant["device_code"])
    assert r.status_code == 400 and r.json()["error"] == "expired_token"
    assert login_server.approve_device(grant["user_code"])["ok"] is False


@pytest.mark.slow
def test_device_expires_in_switch(login_server):
    login_server.configure(device_expires_in=1, device_interval=1)
    grant = login_server.device_authorization()
    assert grant["expires_in"] == 1
    assert login_server.device_poll(grant["device_code"]).json()["error"] == "authorization_pending"
    time.sleep(1.05)
    assert login_server.device_poll(grant["device_code"]).json()["error"] == "expired_token"
    assert login_server.device_grant(grant["user_code"])["status"] == "expired"


def test_slow_down_switch_and_poll_times_at_the_server(login_server):
    grant = login_server.device_authorization()
    login_server.slow_down(2)
    errors = []
    for pause in (0, 0.1, 0.2, None):
        if pause is None:
            login_server.set_device_status(grant["user_code"], "authorized")
        else:
            time.sleep(pause)
        errors.append(login_server.device_poll(grant["device_code"]).json().get("error"))
    assert errors == ["slow_down", "slow_down", "authorization_pending", None]
    polls = login_server.device_polls(grant["device_code"])
    assert [p["error"] for p in polls] == errors
    assert [p["status"] for p in polls] == [400, 400, 400, 200]
    gaps = login_server.poll_gaps(grant["device_code"])
    assert len(gaps) == 3 and gaps[0] >= 0.1 and gaps[1] >= 0.2, gaps
    assert login_server.switches()["slow_down"] == 0


def test_switch_names_are_checked(login_server):
    r = login_server.session.post(
        login_server.base_url + "/_test/config", data=json.dumps({"nope": 1}), timeout=10
    )
    assert r.status_code == 400
    with login_server.switched(device_interval=2) as switches:
        assert switches["device_interval"] == 2
        assert login_server.device_authorization()["interval"] == 2
    assert login_server.switches()["device_interval"] is None
