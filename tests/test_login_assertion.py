"""`oauthcli login` for a client that authenticates with ``private_key_jwt`` (SPEC §9, §12),
end to end against the Authlib assertion server (tests/assertion_server, its login grants):
the browser flow (authorization code + PKCE S256, loopback redirect, RFC 9207 ``iss``) and the
device flow (RFC 8628), each request authenticated by a freshly signed client assertion that
the server verifies with real cryptography and a ``jti`` replay cache.

Browser logins run the installed console script with ``$BROWSER=tests/browser.py`` (it
detaches, GETs the authorization URL, which the server approves at once, and follows the
redirect to the product's listener). Device logins run in this process on a virtual clock
whose ``sleep`` is where the person approves or denies the code at the server.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import browser
from tests.assertion_server import (
    ASSERTION_TYPE,
    DEVICE_CODE,
    AssertionServer,
    KeyPair,
    RecordedRequest,
    RegisteredClient,
)
from tests.conftest import Result, run, run_script, write_profiles
from tests.test_login_parts import Clock, assert_failed

BROWSER = Path(__file__).with_name("browser.py")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
CODE = re.compile(r"enter the code: (\S+)")
SECRET_FIELDS = ("client_assertion", "code", "code_verifier", "device_code", "refresh_token")
SECRET_ANSWERS = ("access_token", "refresh_token", "device_code", "id_token")


# --- helpers ----------------------------------------------------------------------------------


def key_ref(keypair: KeyPair) -> str:
    return f"${{file:{keypair.private_path}}}"


def login_profile(
    server: AssertionServer, client: RegisteredClient, key: KeyPair | None = None, **extra: Any
) -> dict[str, Any]:
    """A standard profile (no body, no refresh token, endpoints discovered from the issuer)
    whose client signs its assertions with ``key`` (default: the registered one)."""
    key = key or client.keypair
    assert key is not None
    auth = {"type": "private_key_jwt", "client_id": client.client_id, "key": key_ref(key),
            "alg": key.alg}  # fmt: skip
    return {"issuer": server.issuer, "auth": auth, "scope": "read write", "retries": 0, **extra}


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def make(**named: dict[str, Any]) -> Path:
        path = write_profiles(tmp_path / "profiles.yaml", named)
        monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))
        return path

    return make


@pytest.fixture
def client(make_login_client: Callable[..., RegisteredClient]) -> RegisteredClient:
    return make_login_client("ES256")  # EC keys are quick to make


def browser_env(log: Path, action: str = "approve") -> dict[str, str]:
    return {"BROWSER": str(BROWSER), "TEST_BROWSER_ACTION": action,
            "TEST_BROWSER_LOG": str(log), "TEST_BROWSER_PYTHON": sys.executable}  # fmt: skip


def stored(profile: str = "p") -> list[Path]:
    return sorted(Path(os.environ["OAUTHCLI_STATE_DIR"]).glob(f"{profile}@*.json"))


def state_of(profile: str = "p") -> dict[str, Any]:
    (path,) = stored(profile)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def assertions(server: AssertionServer) -> list[tuple[RecordedRequest, dict[str, Any]]]:
    """Every request that carried a client assertion, with the assertion's claims."""
    return [(r, r.jwt()[1]) for r in server.requests if "client_assertion" in r.form]


def token_requests(server: AssertionServer, grant_type: str) -> list[RecordedRequest]:
    return [r for r in server.requests_to("/token") if r.form.get("grant_type") == grant_type]


def key_lines(*keys: KeyPair) -> list[str]:
    """The base64 lines of the private keys' PEM."""
    return [line for k in keys for line in k.private_pem.splitlines() if "-----" not in line]


def secrets_seen(server: AssertionServer, *keys: KeyPair) -> tuple[str, ...]:
    """Everything secret that went over the wire (assertions, codes, verifiers, device codes,
    tokens, also inside the authorization redirect), and the keys' PEM lines."""
    found = [r.form.get(f, "") for r in server.requests for f in SECRET_FIELDS]
    found += [r.response.get(f, "") for r in server.requests if isinstance(r.response, dict)
              for f in SECRET_ANSWERS]  # fmt: skip
    found += [r.notes.get("code", "") for r in server.requests_to("/authorize")]
    return tuple(s for s in [*found, *key_lines(*keys)] if isinstance(s, str) and len(s) >= 8)


def assert_no_secret(result: Result, secrets: tuple[str, ...], *, stdout_may: str = "") -> None:
    """No secret on stderr; none on stdout but the one it was asked for (``stdout_may``)."""
    for secret in secrets:
        assert secret not in result.stderr, (secret[:12], result)
        assert secret == stdout_may or secret not in result.stdout, (secret[:12], result)
    assert not JWT.search(result.stderr) and not JWT.search(result.stdout), result
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def assert_quiet_success(result: Result) -> None:
    assert result.code == 0, result
    assert result.stdout == "", result
    assert "Logged in: profile 'p', tokens stored" in result.stderr, result
    assert "error:" not in result.stderr, result


def assert_signed_for(claims: dict[str, Any], client: RegisteredClient, audience: str) -> None:
    """RFC 7523 §2.2 as SPEC §12 words it: iss = sub = client_id, aud = the endpoint, a jti,
    iat, and exp at most 5 minutes after it."""
    assert claims["iss"] == claims["sub"] == client.client_id
    assert claims["aud"] == audience
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert 0 < claims["exp"] - claims["iat"] <= 300


def replay(server: AssertionServer, request: RecordedRequest, refresh_token: str) -> Any:
    """Send ``request``'s client assertion again with a valid refresh request."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": request.form["client_id"], "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": request.form["client_assertion"]}  # fmt: skip
    with requests.Session() as session:
        session.trust_env = False
        return session.post(server.token_url, data=form, timeout=10)


class Person:
    """``world.sleep`` of a device login on a virtual clock: before wait number ``at``, does
    ``act(user_code)`` at the server (the user code is read from stderr, as a person would).
    The clock starts at the real time: it also dates the client assertions, which the server
    checks against its own clock (within ``leeway``, 5 s, so the waits here add up to less)."""

    def __init__(self, act: Callable[[str], Any] | None = None, at: int = 1) -> None:
        self.clock = Clock()
        self.clock.now = time.time()
        self.act, self.at = act, at
        self.err = io.StringIO()

    def sleep(self, seconds: float) -> None:
        if self.act is not None and len(self.clock.sleeps) + 1 == self.at:
            self.act(CODE.search(self.err.getvalue()).group(1))  # type: ignore[union-attr]
        self.clock.sleep(seconds)


def device_login(person: Person, *args: str) -> Result:
    from oauthcli import cli
    from oauthcli.world import World

    out = io.StringIO()
    world = World(environ=dict(os.environ), stdin=io.StringIO(""), stdout=out, stderr=person.err,
                  clock=person.clock.clock, sleep=person.sleep)  # fmt: skip
    code = 0
    try:
        cli.main(["login", *args], world)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), person.err.getvalue())


# --- the browser flow, through the console script ---------------------------------------------


@pytest.mark.slow
def test_browser_login_then_token_and_two_rotating_refreshes(
    assertion_server: AssertionServer, client: RegisteredClient, profiles: Any, tmp_path: Path
) -> None:
    server = assertion_server
    profiles(p=login_profile(server, client))
    log = tmp_path / "browser.log"
    result = run_script("login", "p", env=browser_env(log), timeout=60)
    assert_quiet_success(result)
    assert browser.wait_for_done(log)["callback_status"] == 200

    (authorize,) = server.requests_to("/authorize")  # PKCE S256 to a loopback listener
    assert authorize.query["code_challenge_method"] == "S256" and authorize.status == 302
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", authorize.query["redirect_uri"])
    (exchange,) = token_requests(server, "authorization_code")
    assert exchange.status == 200 and exchange.notes["auth_method"] == "private_key_jwt"
    assert exchange.form["redirect_uri"] == authorize.query["redirect_uri"]
    assert_signed_for(exchange.jwt()[1], client, server.token_url)
    first = state_of()
    assert first["rotated_refresh_token"] == exchange.response["refresh_token"]
    assert first["token"]["access_token"] == exchange.response["access_token"]
    assert_no_secret(result, secrets_seen(server, client.keypair))

    seen = len(server.requests)  # the stored token, no refresh token configured: no request
    token = run_script("token", "p", "-f", "json")
    assert token.code == 0 and token.stderr == "", token
    assert json.loads(token.stdout)["access_token"] == first["token"]["access_token"]
    assert len(server.requests) == seen
    assert_no_secret(token, secrets_seen(server, client.keypair),
                     stdout_may=first["token"]["access_token"])  # fmt: skip

    chain = [first["rotated_refresh_token"]]
    for _ in range(2):
        refreshed = run_script("refresh", "p")
        assert refreshed.code == 0 and refreshed.stderr == "", refreshed
        now = state_of()
        assert refreshed.stdout == now["token"]["access_token"] + "\n"
        chain.append(now["rotated_refresh_token"])
        assert_no_secret(refreshed, secrets_seen(server, client.keypair),
                         stdout_may=now["token"]["access_token"])  # fmt: skip
    assert len(set(chain)) == 3  # rotated twice; the server killed the old ones
    assert [server.refresh_tokens[t].active for t in chain] == [False, False, True]
    refreshes = token_requests(server, "refresh_token")
    assert [r.form["refresh_token"] for r in refreshes] == chain[:2]
    assert all(r.status == 200 and r.notes["auth_method"] == "private_key_jwt" for r in refreshes)

    signed = assertions(server)  # one fresh assertion per token request
    assert len(signed) == 3 and len({claims["jti"] for _, claims in signed}) == 3
    for _, claims in signed:
        assert_signed_for(claims, client, server.token_url)
    replayed = replay(server, refreshes[-1], chain[-1])  # the last one, again: refused
    assert replayed.status_code in (400, 401)
    assert replayed.json() == {"error": "invalid_client",
                               "error_description": "JWT ID is used before."}  # fmt: skip
    assert server.refresh_tokens[chain[-1]].active  # the replay spent nothing
    assert run_script("refresh", "p").code == 0  # and a freshly signed request still works


@pytest.mark.slow
@pytest.mark.parametrize("flow", ["browser", "device"])
@pytest.mark.parametrize("verbose", [False, True])
def test_wrong_key_is_invalid_client_and_leaks_nothing(
    assertion_server: AssertionServer, client: RegisteredClient, profiles: Any,
    make_keypair: Callable[..., KeyPair], tmp_path: Path, flow: str, verbose: bool,
) -> None:  # fmt: skip
    server = assertion_server
    other = make_keypair("ES256", name="not-the-registered-one")
    profiles(p=login_profile(server, client, key=other))
    log = tmp_path / "browser.log"
    args = ["-v"] * verbose + ["login", "p"] + ["--device"] * (flow == "device")
    result = run_script(*args, env=browser_env(log), timeout=60)
    assert_failed(result, 4, "invalid_client")
    assert "client assertion was refused" in result.stderr  # clientauth's hint
    if flow == "browser":  # signed in at the browser; refused at the code exchange
        browser.wait_for_done(log)
        (refused,) = token_requests(server, "authorization_code")
    else:  # refused at the device authorization request: nothing to poll
        (refused,) = server.requests_to("/device_authorization")
        assert server.device_polls() == []
    assert refused.notes["error"] == "invalid_client" and refused.status in (400, 401)
    assert "not made by the registered key" in refused.response["error_description"]
    if verbose:  # the trace is there, its secrets redacted
        assert refused.path in result.stderr
    assert_no_secret(result, secrets_seen(server, other, client.keypair))
    assert refused.form["client_assertion"] not in result.stderr
    assert stored() == []


# --- the device flow ----------------------------------------------------------------------------


@pytest.mark.slow
def test_device_login_approved_then_token_and_refresh(
    assertion_server: AssertionServer, client: RegisteredClient, profiles: Any
) -> None:
    server = assertion_server
    server.device_interval = 2
    profiles(p=login_profile(server, client))
    person = Person(server.approve_device, at=2)  # the first poll is still pending
    result = device_login(person, "p", "--device")
    assert_quiet_success(result)
    assert person.clock.sleeps == [2, 2]  # the server's interval, before each poll

    (authorization,) = server.requests_to("/device_authorization")
    assert authorization.status == 200 and authorization.notes["auth_method"] == "private_key_jwt"
    assert authorization.form["client_id"] == client.client_id
    assert_signed_for(authorization.jwt()[1], client, server.device_authorization_url)
    polls = server.device_polls()
    assert [p.response.get("error") for p in polls] == ["authorization_pending", None]
    for poll in polls:
        assert poll.form["device_code"] == authorization.response["device_code"]
        assert_signed_for(poll.jwt()[1], client, server.token_url)
    assert len({claims["jti"] for _, claims in assertions(server)}) == 3
    assert "enter the code: " + authorization.response["user_code"] in result.stderr
    assert state_of()["rotated_refresh_token"] == polls[-1].response["refresh_token"]
    issued = server.tokens[polls[-1].response["access_token"]]
    assert issued.grant_type == DEVICE_CODE and issued.subject == server.login_user
    assert_no_secret(result, secrets_seen(server, client.keypair))

    token = run("token", "p", "-f", "json")
    assert token.code == 0 and json.loads(token.stdout)["access_token"] == issued.access_token
    before = state_of()["rotated_refresh_token"]
    refreshed = run("refresh", "p")  # the device grant's refresh token, redeemed and rotated
    assert refreshed.code == 0 and refreshed.stderr == "", refreshed
    assert state_of()["rotated_refresh_token"] != before
    assert not server.refresh_tokens[before].active


def test_device_login_denied_is_exit_4_and_stores_nothing(
    assertion_server: AssertionServer, client: RegisteredClient, profiles: Any
) -> None:
    server = assertion_server
    server.device_interval = 2
    profiles(p=login_profile(server, client))
    person = Person(server.deny_device)
    result = device_login(person, "p", "--device")
    assert_failed(result, 4, "access_denied", secrets_seen(server, client.keypair))
    assert_no_secret(result, secrets_seen(server, client.keypair))
    assert "run oauthcli login --device again" in result.stderr
    (poll,) = server.device_polls()  # refused: no more polls
    assert poll.response["error"] == "access_denied" and poll.notes["auth_method"] == (
        "private_key_jwt"
    )
    assert stored() == []


# --- what the server enforces (so the logins above prove something) -------------------------


def _authorize(server: AssertionServer, client: RegisteredClient, **params: str) -> Any:
    query = {"response_type": "code", "client_id": client.client_id, "scope": "read",
             "redirect_uri": "http://127.0.0.1:50123/callback", "state": "st-1",
             "code_challenge": _challenge("v" * 43),
             "code_challenge_method": "S256", **params}  # fmt: skip
    with requests.Session() as session:
        session.trust_env = False
        return session.get(server.authorization_url, params=query, allow_redirects=False,
                           timeout=10)  # fmt: skip


def _challenge(verifier: str) -> str:
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    return str(create_s256_code_challenge(verifier))


def _redirect_query(response: Any) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def _exchange(server: AssertionServer, client: RegisteredClient, code: str, verifier: str,
              redirect_uri: str = "http://127.0.0.1:50123/callback") -> Any:  # fmt: skip
    import secrets
    import time

    assert client.keypair is not None
    now = int(time.time())
    assertion = client.keypair.sign({"iss": client.client_id, "sub": client.client_id,
                                     "aud": server.token_url, "iat": now, "exp": now + 60,
                                     "jti": secrets.token_urlsafe(16)})  # fmt: skip
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion}  # fmt: skip
    with requests.Session() as session:
        session.trust_env = False
        return session.post(server.token_url, data=form, timeout=10)


def test_server_binds_codes_to_pkce_redirect_uri_and_one_use(
    assertion_server: AssertionServer, make_login_client: Callable[..., RegisteredClient]
) -> None:
    server, client = assertion_server, make_login_client("ES256")
    approved = _redirect_query(_authorize(server, client))  # any loopback port matches
    assert approved["state"] == "st-1" and approved["iss"] == server.issuer
    assert _exchange(server, client, approved["code"], "w" * 43).json()["error"] == "invalid_grant"
    approved = _redirect_query(_authorize(server, client))
    moved = _exchange(server, client, approved["code"], "v" * 43, "http://127.0.0.1:1/callback")
    assert moved.json()["error"] == "invalid_grant"  # another redirect_uri than authorized
    approved = _redirect_query(_authorize(server, client))
    good = _exchange(server, client, approved["code"], "v" * 43)
    assert good.status_code == 200 and good.json()["refresh_token"]
    assert _exchange(server, client, approved["code"], "v" * 43).json()["error"] == "invalid_grant"

    for params in ({"code_challenge_method": "plain"}, {"code_challenge": ""}):
        refused = _redirect_query(_authorize(server, client, **params))  # S256 is required
        assert refused["error"] == "invalid_request" and refused["state"] == "st-1"
    server.authorize_decision = "deny"
    assert _redirect_query(_authorize(server, client))["error"] == "access_denied"
    elsewhere = _authorize(server, client, redirect_uri="http://evil.example/callback")
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers


def test_a_retried_poll_is_signed_afresh(
    assertion_server: AssertionServer, client: RegisteredClient, profiles: Any
) -> None:
    """SPEC §12: every request gets a fresh jti; a retry (§7: 429) is another request. A server
    that rate-limits per client has authenticated it, so it has seen the jti."""
    server = assertion_server
    server.device_interval = 2
    profiles(p=login_profile(server, client, retries=1))
    server.throttle_after_auth = 1  # the first poll: 429 once the client is authenticated
    result = device_login(Person(server.approve_device), "p", "--device")
    first, retried = server.device_polls()
    assert first.status == 429 and first.notes["auth_method"] == "private_key_jwt"
    assert first.jwt()[1]["jti"] != retried.jwt()[1]["jti"], retried.response
    assert_quiet_success(result)
