"""The pieces of `oauthcli login` on their own: PKCE, the redirect URI, the loopback listener,
the check of the authorization response, the device grant's answer and its polling.

The end-to-end tests against django-oauth-toolkit are in test_login.py; here a fake
provider (tests/server.py) covers what DOT cannot show, such as GitHub's HTTP 200 errors.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from oauthcli.errors import BadResponseError, ConfigError, ExitCode, ProviderError
from oauthcli.login.listener import Listener, page, parse_head
from oauthcli.login.pkce import Pkce, random_value, s256
from oauthcli.login.redirect import RedirectTarget, parse_redirect
from oauthcli.login.verify import Expected, authorization_code
from oauthcli.redact import Secrets
from tests.conftest import PLANTED, Result, write_profiles
from tests.server import LoopbackServer, Request, Response


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


# --- PKCE and random values ------------------------------------------------------------------


def test_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_state_and_nonce_are_long_random_and_url_safe() -> None:
    pkce = Pkce()
    assert 43 <= len(pkce.verifier) <= 128 and re.fullmatch(r"[A-Za-z0-9_-]+", pkce.verifier)
    assert pkce.verifier not in repr(pkce)
    values = {random_value() for _ in range(100)}
    assert len(values) == 100
    assert all(len(v) >= 43 for v in values)  # 32 random bytes: 256 bits, SPEC asks ≥ 128


# --- redirect_uri ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "host", "port", "path", "sent"),
    [
        (None, "127.0.0.1", 0, "/callback", "http://127.0.0.1:5555/callback"),
        ("http://localhost:8765/callback", "localhost", 8765, "/callback",
         "http://localhost:5555/callback"),
        ("http://[::1]:0/cb", "[::1]", 0, "/cb", "http://[::1]:5555/cb"),
        ("http://LOCALHOST:0", "localhost", 0, "/", "http://localhost:5555/"),
        ("http://127.0.0.1/callback", "127.0.0.1", 80, "/callback", "http://127.0.0.1/callback"),
    ],
)  # fmt: skip
def test_redirect_uri_parsing(uri: str | None, host: str, port: int, path: str, sent: str) -> None:
    target = parse_redirect(uri, "p")
    assert (target.host, target.port, target.path) == (host, port, path)
    assert target.uri(5555) == sent


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://127.0.0.1:0/callback", "http:// loopback"),
        ("http://example.com:8765/callback", "not loopback"),
        ("http://0.0.0.0:8765/callback", "not loopback"),
        ("http://192.168.1.2:8765/callback", "not loopback"),
        ("http://127.0.0.1:0/callback?x=1", "query"),
        ("http://127.0.0.1:0/callback#frag", "fragment"),
        ("http://user:pw@127.0.0.1:0/callback", "user information"),
        ("http://127.0.0.1:99999/callback", "invalid"),
    ],
)
def test_redirect_uri_must_be_plain_loopback(uri: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_redirect(uri, "p")
    assert reason in caught.value.message and "login.redirect_uri" in caught.value.message
    assert caught.value.exit_code == ExitCode.CONFIG


def test_host_header_check_accepts_loopback_names_with_the_port_only() -> None:
    target = parse_redirect("http://127.0.0.1:0/callback", "p")
    for good in ("127.0.0.1:4000", "localhost:4000", "[::1]:4000", "LOCALHOST:4000"):
        assert target.is_own_host(good, 4000), good
    for bad in ("evil.example:4000", "127.0.0.1:4001", "127.0.0.1", "", "[::1", "a:b:c"):
        assert not target.is_own_host(bad, 4000), bad
    assert RedirectTarget("127.0.0.1", 80, "/", False).is_own_host("127.0.0.1", 80)


# --- the listener ------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener(parse_redirect(None, "p"), "p") as lst:
        yield lst


def wait_in_thread(lst: Listener, seconds: float = 10.0) -> tuple[threading.Thread, list[Any]]:
    got: list[Any] = []
    end = time.monotonic() + seconds
    thread = threading.Thread(target=lambda: got.append(lst.wait(lambda: end - time.monotonic())))
    thread.start()
    return thread, got


def raw_request(port: int, data: bytes, host: str = "127.0.0.1") -> bytes:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((host, port))
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_listener_binds_loopback_only_on_a_free_port(listener: Listener) -> None:
    (sock,) = listener.sockets
    address, port = sock.getsockname()
    assert address == "127.0.0.1" and port > 0
    assert listener.redirect_uri == f"http://127.0.0.1:{port}/callback"


def test_listener_answers_other_paths_methods_and_hosts_and_waits_on(listener: Listener) -> None:
    thread, got = wait_in_thread(listener)
    base = f"http://127.0.0.1:{listener.port}"
    assert requests.get(base + "/favicon.ico", timeout=5).status_code == 404
    assert requests.post(base + "/callback?code=x&state=y", timeout=5).status_code == 405
    rebound = requests.get(base + "/callback?code=x", headers={"Host": "evil.example"}, timeout=5)
    assert rebound.status_code == 421
    assert raw_request(listener.port, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    idle = socket.create_connection(("127.0.0.1", listener.port))  # a browser's pre-connection
    try:
        assert got == [] and thread.is_alive()
        answer: list[requests.Response] = []
        browser = threading.Thread(target=lambda: answer.append(
            requests.get(base + "/callback?code=c0de&state=st", timeout=5)))  # fmt: skip
        browser.start()
        thread.join(5)
        (callback,) = got
        assert callback.query == "code=c0de&state=st" and callback.source == "browser"
        callback.answer(False, "access_denied: <script>alert(1)</script>")
        browser.join(5)
    finally:
        idle.close()
    assert answer[0].status_code == 400 and "&lt;script&gt;" in answer[0].text
    assert answer[0].headers["Cache-Control"] == "no-store"
    assert listener.sockets == []  # one callback only: nothing listens any more
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "/callback?code=again", timeout=5)


@pytest.mark.slow
def test_listener_gives_up_at_the_deadline(listener: Listener) -> None:
    calls = iter([1.0, 0.05, 0.0])
    assert listener.wait(lambda: next(calls)) is None
    assert listener.sockets == []


def test_oversized_request_head_is_refused(listener: Listener) -> None:
    thread, got = wait_in_thread(listener, 5)
    data = b"GET /callback?" + b"a" * 20000 + b" HTTP/1.1\r\n"
    assert raw_request(listener.port, data).startswith(b"HTTP/1.1 431 ")
    url = f"http://127.0.0.1:{listener.port}/callback?code=1&state=2"
    browser = threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 5})
    browser.start()
    thread.join(5)
    assert got[0].query == "code=1&state=2"
    got[0].answer(True, "ok")
    browser.join(5)


def test_busy_fixed_port_is_an_error_never_another_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            Listener(parse_redirect(f"http://127.0.0.1:{port}/callback", "p"), "p")
    assert f"port {port} on 127.0.0.1 is busy" in caught.value.message
    assert caught.value.exit_code == ExitCode.CONFIG


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_localhost_listens_on_both_loopback_addresses() -> None:
    with Listener(parse_redirect("http://localhost:0/callback", "p"), "p") as lst:
        families = sorted(s.family for s in lst.sockets)
        assert families == sorted([socket.AF_INET, socket.AF_INET6])
        assert {s.getsockname()[1] for s in lst.sockets} == {lst.port}
        thread, got = wait_in_thread(lst)
        data = f"GET /callback?code=6&state=s HTTP/1.1\r\nHost: localhost:{lst.port}\r\n\r\n"
        answered = threading.Thread(target=raw_request, args=(lst.port, data.encode(), "::1"))
        answered.start()
        thread.join(5)
        assert got[0].query == "code=6&state=s"
        got[0].answer(True, "done")
        answered.join(5)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_localhost_with_a_fixed_port_busy_on_ipv6_only_is_an_error() -> None:
    with socket.socket(socket.AF_INET6) as busy:
        busy.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        busy.bind(("::1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} on \[::1\] is busy"):
            Listener(parse_redirect(f"http://localhost:{port}/callback", "p"), "p")
    with socket.socket() as probe:  # the IPv4 socket bound before was released
        probe.bind(("127.0.0.1", port))


def test_parse_head() -> None:
    assert parse_head(b"GET /callback?a=1 HTTP/1.1\r\nHost: x:1\r\n\r\n") == (
        "GET", "/callback?a=1", "x:1")  # fmt: skip
    assert parse_head(b"GET /c HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")[2] is None
    assert parse_head(b"GET /c\r\n\r\n") == (None, None, None)
    assert b"Signed in" in page(True, "x") and b"&lt;b&gt;" in page(False, "<b>")


# --- the authorization response ----------------------------------------------------------------


def code_of(query: str, **expected: Any) -> str:
    return authorization_code(query, Expected(**{"state": "S" * 43, **expected}), Secrets())


def test_a_good_response_gives_its_code_and_registers_it_as_secret() -> None:
    secrets = Secrets()
    state = "S" * 43
    assert (
        authorization_code(f"code=abcd1234&state={state}", Expected(state), secrets) == "abcd1234"
    )
    assert secrets.redact_text("xx abcd1234") == "xx ****"


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("code=c&state=other", "not this login's"),
        ("code=c", "has no state"),
        ("error=access_denied&state=other", "(it reports 'access_denied')"),
        (f"code=c&state={'S' * 43}&state={'S' * 43}", "repeats state"),
        (f"code=c&code=d&state={'S' * 43}", "repeats code"),
        ("code=c&state=S%C3%A9", "not this login's"),  # non-ASCII: compared as bytes
    ],
)
def test_state_must_match_before_anything_else(query: str, fragment: str) -> None:
    with pytest.raises(ProviderError) as caught:
        code_of(query)
    assert fragment in caught.value.message and "nothing was exchanged" in caught.value.message
    assert caught.value.exit_code == ExitCode.REFUSED


def test_error_is_reported_with_its_description() -> None:
    state = "S" * 43
    with pytest.raises(ProviderError) as caught:
        code_of(f"error=access_denied&error_description=The+user+said+no&state={state}")
    assert caught.value.error == "access_denied"
    assert caught.value.message.endswith("access_denied: The user said no")
    assert "run oauthcli login again" in (caught.value.hint or "")


def test_iss_rfc9207() -> None:
    state, issuer = "S" * 43, "https://id.example/o"
    good = code_of(f"code=c&state={state}&iss=https%3A%2F%2Fid.example%2Fo", issuer=issuer,
                   iss_required=True)  # fmt: skip
    assert good == "c"
    with pytest.raises(ProviderError, match="no iss"):
        code_of(f"code=c&state={state}", issuer=issuer, iss_required=True)
    with pytest.raises(ProviderError, match="names issuer 'https://evil.example'"):
        code_of(f"code=c&state={state}&iss=https://evil.example", issuer=issuer)
    assert code_of(f"code=c&state={state}", issuer=issuer) == "c"  # not advertised: optional
    # an error redirect without iss (DOT's) is still the error it names
    with pytest.raises(ProviderError) as caught:
        code_of(f"error=access_denied&state={state}", issuer=issuer, iss_required=True)
    assert caught.value.error == "access_denied"
    with pytest.raises(ProviderError, match="names issuer"):  # but a wrong iss is not
        code_of(f"error=access_denied&state={state}&iss=x", issuer=issuer, iss_required=True)


def test_neither_code_nor_error_is_an_unusable_answer() -> None:
    with pytest.raises(BadResponseError):
        code_of(f"state={'S' * 43}")


# --- through the CLI, against a fake provider ------------------------------------------------


class Clock:
    """Virtual time: ``sleep`` advances it (and really sleeps a little, for the server)."""

    def __init__(self, real_fraction: float = 0.0) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []
        self.real_fraction = real_fraction

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.real_fraction:
            time.sleep(seconds * self.real_fraction)


def run_login(*args: str, clock: Clock | None = None, stdin: Any = None) -> Result:
    import os

    from oauthcli import cli
    from oauthcli.world import World

    out, err = io.StringIO(), io.StringIO()
    world = World(environ=dict(os.environ), stdin=stdin or io.StringIO(""), stdout=out,
                  stderr=err)  # fmt: skip
    if clock is not None:
        world.clock, world.sleep = clock.clock, clock.sleep
    code = 0
    try:
        cli.main(["login", *args], world)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def assert_failed(result: Result, code: int, fragment: str, secrets: tuple[str, ...] = ()) -> None:
    """Exit code, nothing on stdout, one error line (after any instructions), no secret."""
    assert result.code == code, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(errors) == 1, result
    assert all(line.startswith("hint: ") for line in lines[errors[0] + 1 :]), result
    assert fragment in lines[errors[0]], (fragment, result)
    for secret in (PLANTED, *secrets):
        assert secret not in result.stderr, (secret, result)
    assert "Traceback" not in result.stderr


class GitHubLike:
    """A device flow that answers every poll with HTTP 200, errors included (as GitHub does)."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.polls: list[Request] = []

    def device(self, request: Request) -> Response:
        assert request.form["client_id"] == "Iv1.cli"
        return Response(200, {"device_code": "dc-SECRET-0001", "user_code": "WDJB-MJHT",
                              "verification_uri": "https://github.example/login/device",
                              "expires_in": 900, "interval": 5})  # fmt: skip

    def token(self, request: Request) -> Response:
        self.polls.append(request)
        return Response(200, self.answers.pop(0))


@pytest.fixture
def github(server: LoopbackServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def make(answers: list[dict[str, Any]]) -> GitHubLike:
        fake = GitHubLike(answers)
        server.route("/login/device/code", fake.device)
        server.route("/login/oauth/access_token", fake.token)
        profile = {
            "token_url": server.url("/login/oauth/access_token"),
            "headers": {"Accept": "application/json"},
            "auth": {"type": "post", "client_id": "Iv1.cli", "client_secret": PLANTED},
            "login": {"flow": "device", "device_authorization_url": server.url("/login/device/code")},
            "retries": 0,
        }  # fmt: skip
        path = write_profiles(tmp_path / "gh.yaml", {"gh": profile})
        monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))
        return fake

    return make


TOKENS = {"access_token": "ghu_ACCESS_0001", "token_type": "bearer", "expires_in": 28800,
          "refresh_token": "ghr_REFRESH_0001", "scope": ""}  # fmt: skip


def test_device_flow_with_errors_in_http_200(github: Any) -> None:
    fake = github([{"error": "authorization_pending"}, {"error": "slow_down", "interval": 10},
                   {"error": "authorization_pending"}, TOKENS])  # fmt: skip
    clock = Clock()
    result = run_login("gh", clock=clock)
    assert result.code == 0 and result.stdout == "", result
    assert clock.sleeps == [5, 5, 10, 10]  # before the first poll; slow_down: +5 s from then on
    assert "open https://github.example/login/device" in result.stderr
    assert "enter the code: WDJB-MJHT" in result.stderr
    poll = fake.polls[0].form
    assert poll == {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                    "device_code": "dc-SECRET-0001", "client_id": "Iv1.cli",
                    "client_secret": PLANTED}  # fmt: skip
    assert fake.polls[0].headers["accept"] == "application/json"
    for secret in ("dc-SECRET-0001", "ghu_ACCESS_0001", "ghr_REFRESH_0001", PLANTED):
        assert secret not in result.stderr


@pytest.mark.parametrize(
    ("error", "code", "fragment"),
    [("access_denied", 4, "access_denied"), ("expired_token", 4, "expired_token"),
     ("incorrect_client_credentials", 4, "incorrect_client_credentials")],
)  # fmt: skip
def test_device_flow_refusals_in_http_200(
    github: Any, error: str, code: int, fragment: str
) -> None:
    github([{"error": "authorization_pending"}, {"error": error, "error_description": "no\x1b[2J"}])
    result = run_login("gh", clock=Clock())
    assert_failed(result, code, fragment, secrets=("dc-SECRET-0001",))
    assert "\x1b" not in result.stderr and "no\\x1b[2J" in result.stderr  # server text is data


def test_device_flow_verbose_shows_no_device_code(github: Any) -> None:
    github([TOKENS])
    result = run_login("gh", "-v", clock=Clock())
    assert result.code == 0, result
    assert "device_code" in result.stderr  # the trace shows the field…
    for secret in ("dc-SECRET-0001", "ghu_ACCESS_0001", "ghr_REFRESH_0001", PLANTED):
        assert secret not in result.stderr  # …never its value


def test_device_authorization_without_a_user_code_is_unusable(
    github: Any, server: LoopbackServer
) -> None:
    github([])
    server.reply("/login/device/code", body={"device_code": "dc-SECRET-0001", "interval": 5})
    result = run_login("gh", clock=Clock())
    assert_failed(result, 6, "without user_code, verification_uri", ("dc-SECRET-0001",))


def test_login_of_a_machine_grant_is_refused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = {"token_url": "https://id.example/token", "grant": {"type": "client_credentials"},
               "auth": {"type": "basic", "client_id": "c", "client_secret": PLANTED}}  # fmt: skip
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "m.yaml", {"m": profile})))
    assert_failed(run_login("m"), 3, "uses grant.type client_credentials: it needs no login")


@pytest.mark.parametrize(
    ("login", "fragment"),
    [({"flow": "magic"}, "login.flow: expected 'browser' or 'device'"),
     ({"redirect_uri": "http://example.com:1/cb"}, "is not loopback"),
     ({"params": {"state": "fixed"}}, "login.params: state is set by oauthcli itself"),
     ({"authorization_url": "http://id.example/authorize"}, "refusing plain http://")],
)  # fmt: skip
def test_bad_login_settings_are_configuration_errors(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, login: dict[str, Any], fragment: str
) -> None:
    profile = {"token_url": "https://id.example/token", "login": login,
               "auth": {"type": "none", "client_id": "c"}}  # fmt: skip
    if "authorization_url" not in login:
        login.setdefault("authorization_url", "https://id.example/authorize")
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "b.yaml", {"b": profile})))
    assert_failed(run_login("b", "--no-browser"), 3, fragment)


def test_device_login_without_an_endpoint(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = {"token_url": "https://id.example/token", "auth": {"type": "none", "client_id": "c"}}
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "d.yaml", {"d": profile})))
    assert_failed(run_login("d", "--device"), 3, "no device authorization endpoint")


@pytest.mark.parametrize("timeout", ["0", "-3", "nan"])
def test_timeout_must_be_positive(timeout: str) -> None:
    result = run_login("p", "--timeout", timeout)
    assert result.code == 2 and result.stdout == "", result


def test_an_unset_configured_refresh_token_fails_before_the_sign_in(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """adopt() resolves it to fingerprint it: unset, it would fail after the grant is spent."""
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(opened.append(url)))
    monkeypatch.setenv("BROWSER", "the-test-browser")
    profile = {"token_url": "https://id.example/token", "refresh_token": "${env:NOT_SET_RT}",
               "auth": {"type": "none", "client_id": "c"},
               "login": {"authorization_url": "https://id.example/authorize"}}  # fmt: skip
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "r.yaml", {"r": profile})))
    assert_failed(run_login("r"), 3, "environment variable NOT_SET_RT is not set")
    assert opened == []


def test_an_error_redirect_is_shown_as_data(
    server: LoopbackServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crafted error_description (an escape sequence, a newline posing as our own error
    line) arrives escaped on one line; the browser page gets it HTML-escaped."""
    import webbrowser

    pages: list[requests.Response] = []
    answered = threading.Event()

    def evil_browser(url: str, *args: Any, **kwargs: Any) -> bool:
        query = parse_qs(urlsplit(url).query)
        back = query["redirect_uri"][0]
        params = {"error": "access_denied", "state": query["state"][0],
                  "error_description": "\x1b[2J\nerror: all is fine <b>"}  # fmt: skip
        pages.append(requests.get(back, params=params, timeout=5))
        answered.set()
        return True

    monkeypatch.setattr(webbrowser, "open", evil_browser)
    monkeypatch.setenv("BROWSER", "the-test-browser")
    profile = {"token_url": server.url("/token"), "auth": {"type": "none", "client_id": "c"},
               "login": {"authorization_url": server.url("/authorize")}}  # fmt: skip
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "e.yaml", {"e": profile})))
    result = run_login("e")
    assert_failed(result, 4, "access_denied: \\x1b[2J error: all is fine <b>")
    assert "\x1b" not in result.stderr and server.hits("/token") == []
    assert answered.wait(5)
    assert pages[0].status_code == 400 and "&lt;b&gt;" in pages[0].text


@pytest.mark.slow
@pytest.mark.parametrize(("name", "started"), [("lynx", False), ("w3m", False), ("firefox", True)])
def test_a_text_browser_is_not_started_over_the_terminal(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, name: str, started: bool
) -> None:
    """No $BROWSER and no display: webbrowser's default would be lynx, in this terminal."""
    import webbrowser

    class Controller:
        def __init__(self) -> None:
            self.name = name

    opened: list[str] = []
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setattr(webbrowser, "get", lambda *a: Controller())
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(opened.append(url)))
    profile = {"token_url": "https://id.example/token", "auth": {"type": "none", "client_id": "c"},
               "login": {"authorization_url": "https://id.example/authorize"}}  # fmt: skip
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(write_profiles(tmp_path / "t.yaml", {"t": profile})))
    result = run_login("t", "--timeout", "0.5")
    assert_failed(result, 5, "login timed out")
    assert bool(opened) is started
    assert ("No graphical browser here" in result.stderr) is not started
