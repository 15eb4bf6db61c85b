"""`oauthcli login` end to end against django-oauth-toolkit (tests/authserver, the
``login_server`` fixture): the authorization code flow with PKCE and the device flow, every
failure path, then `token` with no configured refresh token, and rotation.

Browser logins run the CLI in this process with ``webbrowser.open`` replaced by
tests/browser.py's flow (the edge: everything else is the product), or as the installed
console script with ``$BROWSER=tests/browser.py`` (webbrowser reads $BROWSER once per process).
Device logins run in this process on a virtual clock whose ``sleep`` really sleeps a twentieth
of each wait, so the gaps between polls can be asserted where they count: at the server.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import browser
from tests.conftest import PLANTED, Result, age_state, run, run_script, write_profiles
from tests.test_login_parts import Clock, assert_failed

pytest.importorskip("oauth2_provider")

SECRET_ENV = "LOGIN_CLIENT_SECRET"
URL = re.compile(r"http://127\.0\.0\.1:\d+/o/authorize/\?\S+")
CODE = re.compile(r"enter the code: (\S+)")


# --- helpers ----------------------------------------------------------------------------------


def login_profile(server: Any, client: str = "authcode_public", **extra: Any) -> dict[str, Any]:
    """A standard profile for ``client`` (no body, no refresh token): issuer discovery, and
    the client's secret, when it has one, from the environment."""
    c = server.clients[client]
    auth: dict[str, str] = {"type": "none", "client_id": c.client_id}
    if c.client_secret:
        auth = {"type": "basic", "client_id": c.client_id, "client_secret": f"${{{SECRET_ENV}}}"}
    return {"issuer": server.issuer, "auth": auth, "scope": "openid read write", "retries": 0,
            **extra}  # fmt: skip


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    def make(**named: dict[str, Any]) -> Path:
        path = write_profiles(tmp_path / "profiles.yaml", named)
        monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))
        return path

    return make


@pytest.fixture(autouse=True)
def client_secret(login_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, login_server.clients["authcode_basic"].client_secret)


@pytest.fixture
def fake_browser(
    login_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """``fake_browser(action)``: webbrowser.open plays the user (tests/browser.py, in the
    product's browser thread); returns the browser's log file."""
    import webbrowser

    def use(action: str = "approve") -> Path:
        log = tmp_path / f"browser-{action}.log"

        def open_url(url: str, *args: Any, **kwargs: Any) -> bool:
            result = browser.authorize(url, action, login_server.username,
                                       login_server.password, browser.Log(str(log)))  # fmt: skip
            browser.Log(str(log))("done", **result)
            return True

        monkeypatch.setattr(webbrowser, "open", open_url)
        monkeypatch.setenv("BROWSER", "the-test-browser")  # a browser the person chose
        return log

    return use


def stored(profile: str = "p") -> list[Path]:
    return sorted(Path(os.environ["OAUTHCLI_STATE_DIR"]).glob(f"{profile}@*.json"))


def state_of(profile: str = "p") -> dict[str, Any]:
    (path,) = stored(profile)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def exchanges(server: Any, since: int) -> list[dict[str, Any]]:
    return [e for e in server.requests(since, path="/o/token/")
            if e["grant_type"] == "authorization_code"]  # fmt: skip


def secrets_of(server: Any, since: int, log: Path | None = None) -> tuple[str, ...]:
    """Every secret of the logins since ``since``: codes, verifiers, and what is stored."""
    found = [e["form"].get(k, "") for e in server.requests(since, path="/o/token/")
             for k in ("code", "code_verifier", "device_code")]  # fmt: skip
    if log is not None:
        found += re.findall(r"code=([\w-]+)", log.read_text() if log.exists() else "")
    for path in stored():
        data = json.loads(path.read_text())
        found += [data["token"]["access_token"], data["rotated_refresh_token"] or ""]
    found.append(server.clients["authcode_basic"].client_secret)
    return tuple(s for s in found if s and len(s) >= 8)


def assert_quiet_success(result: Result) -> None:
    assert result.code == 0, result
    assert result.stdout == "", result
    assert "Logged in: profile 'p', tokens stored" in result.stderr, result
    assert "error:" not in result.stderr and "Traceback" not in result.stderr


# --- the browser flow -----------------------------------------------------------------------


@pytest.mark.slow
def test_browser_login_then_token_without_a_refresh_token_and_rotation(
    login_server: Any, profiles: Any, fake_browser: Any
) -> None:
    profiles(p=login_profile(login_server))
    log = fake_browser("approve")
    mark = login_server.log_mark()
    result = run("login", "p")
    assert_quiet_success(result)
    (exchange,) = exchanges(login_server, mark)
    assert exchange["client_id"] == "oauthcli-authcode-public" and exchange["status"] == 200
    assert exchange["form"]["redirect_uri"].startswith("http://127.0.0.1:")
    assert len(exchange["form"]["code_verifier"]) >= 43
    done = browser.wait_for_done(log)
    assert done["callback_status"] == 200 and "Signed in" in done["callback_body"]
    (url,) = URL.findall(result.stderr)
    assert "code_challenge_method=S256" in url and "nonce=" in url
    assert not [s for s in secrets_of(login_server, mark, log) if s in result.stderr]

    first = state_of()
    assert first["rotated_refresh_token"] and first["token"]["id_token"]
    token = run("token", "p")  # the stored token: nothing configured, nothing sent
    assert token.code == 0 and token.stdout == first["token"]["access_token"] + "\n", token
    age_state(3600)
    refreshed = run("token", "p")  # expired: refreshed with the stored refresh token
    assert refreshed.code == 0 and refreshed.stdout.strip() != first["token"]["access_token"]
    second = state_of()
    assert second["rotated_refresh_token"] != first["rotated_refresh_token"]  # DOT rotates
    again = run("refresh", "p")  # and the rotated one works (the old one is dead at DOT)
    assert again.code == 0, again
    stale = login_server.refresh(first["rotated_refresh_token"], "authcode_public")
    assert stale.json()["error"] == "invalid_grant"


def test_browser_login_confidential_client_on_localhost(
    login_server: Any, profiles: Any, fake_browser: Any
) -> None:
    redirect = {"redirect_uri": "http://localhost:0/callback"}
    profiles(p=login_profile(login_server, "authcode_basic", scope="read", login=redirect))
    fake_browser("approve")
    mark = login_server.log_mark()
    result = run("login", "p")
    assert_quiet_success(result)
    (exchange,) = exchanges(login_server, mark)
    assert exchange["auth"] == "basic" and exchange["client_id"] == "oauthcli-authcode-basic"
    assert exchange["form"]["redirect_uri"].startswith("http://localhost:")
    assert "client_secret" not in exchange["form"]
    assert run("refresh", "p").code == 0
    assert login_server.clients["authcode_basic"].client_secret not in result.stderr


@pytest.mark.parametrize(
    ("action", "fragment"),
    [("deny", "refused the sign-in: access_denied"),
     ("bad_state", "has a state that is not this login's"),
     ("no_state", "has no state")],
)  # fmt: skip
def test_browser_refusals_exchange_and_store_nothing(
    login_server: Any, profiles: Any, fake_browser: Any, action: str, fragment: str
) -> None:
    profiles(p=login_profile(login_server))
    log = fake_browser(action)
    mark = login_server.log_mark()
    result = run("login", "p")
    done = browser.wait_for_done(log)
    assert_failed(result, 4, fragment, secrets_of(login_server, mark, log))
    assert exchanges(login_server, mark) == []  # no code exchange
    assert stored() == []
    assert done["callback_status"] == 400 and "Sign-in failed" in done["callback_body"]


@pytest.mark.slow
def test_rfc9207_iss_checked_when_advertised(
    login_server: Any, profiles: Any, fake_browser: Any
) -> None:
    login_server.configure(iss_parameter=True)
    profiles(p=login_profile(login_server))
    fake_browser("approve")
    assert_quiet_success(run("login", "p"))  # iss = the issuer: accepted

    fake_browser("bad_iss")
    mark = login_server.log_mark()
    kept = state_of()
    result = run("login", "p")
    assert_failed(result, 4, "names issuer 'https://evil.example'")
    assert exchanges(login_server, mark) == [] and state_of() == kept

    fake_browser("deny")  # DOT's error redirect has no iss: still reported as the error
    assert_failed(run("login", "p"), 4, "access_denied")


def test_favicon_first_and_a_second_callback(
    login_server: Any, profiles: Any, fake_browser: Any
) -> None:
    profiles(p=login_profile(login_server))
    log = fake_browser("favicon")
    assert_quiet_success(run("login", "p"))
    browser.wait_for_done(log)
    (favicon,) = [e for e in browser.read_log(log) if e["event"] == "favicon"]
    assert favicon["status"] == 404

    log = fake_browser("twice")
    mark = login_server.log_mark()
    assert_quiet_success(run("login", "p"))
    assert len(exchanges(login_server, mark)) == 1
    browser.wait_for_done(log)
    callbacks = [e for e in browser.read_log(log) if e["event"] == "callback"]
    assert callbacks[0]["status"] == 200 and "error" in callbacks[1]  # nobody listens any more


def test_a_failed_login_leaves_the_earlier_grant_working(
    login_server: Any, profiles: Any, fake_browser: Any
) -> None:
    profiles(p=login_profile(login_server))
    fake_browser("approve")
    assert_quiet_success(run("login", "p"))
    (path,) = stored()
    before = path.read_bytes()
    fake_browser("deny")
    assert_failed(run("login", "p"), 4, "access_denied")
    assert path.read_bytes() == before and stored() == [path]
    forced = run("token", "p", "--force")  # the earlier refresh token still works
    assert forced.code == 0 and forced.stdout.strip(), forced


def test_busy_fixed_port_is_exit_3_and_opens_no_browser(
    login_server: Any, profiles: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(opened.append(url)))
    monkeypatch.setenv("BROWSER", "the-test-browser")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        redirect = {"redirect_uri": f"http://127.0.0.1:{port}/callback"}
        profiles(p=login_profile(login_server, login=redirect))
        result = run("login", "p")
    assert_failed(result, 3, f"port {port} on 127.0.0.1 is busy")
    assert len(result.stderr.splitlines()) == 2  # the error and its hint, nothing before
    assert opened == [] and stored() == []


def test_no_browser_prints_the_url_and_times_out(login_server: Any, profiles: Any) -> None:
    params = {"params": {"prompt": "consent", "ui_locales": "en"}}
    profiles(p=login_profile(login_server, login=params))
    result = run("login", "p", "--no-browser", "--timeout", "0.3")
    assert_failed(result, 5, "login timed out after 0.3s waiting for the browser")
    (url,) = URL.findall(result.stderr)
    query = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", url))
    assert query["response_type"] == "code"
    assert query["client_id"] == "oauthcli-authcode-public"
    assert query["scope"] == "openid+read+write" and len(query["nonce"]) >= 43
    assert len(query["state"]) >= 43 and len(query["code_challenge"]) == 43
    assert query["code_challenge_method"] == "S256"
    assert query["prompt"] == "consent" and query["ui_locales"] == "en"
    assert query["redirect_uri"].startswith("http%3A%2F%2F127.0.0.1%3A")
    assert "paste" not in result.stderr  # stdin is not a terminal: no paste-back offered


class Terminal:
    """stdin as a terminal whose keyboard is a pipe: the test types into ``write``."""

    def __init__(self) -> None:
        read, self.write_fd = os.pipe()
        self.reader = os.fdopen(read, "r")

    def fileno(self) -> int:
        return self.reader.fileno()

    def isatty(self) -> bool:
        return True

    def type(self, text: str) -> None:
        os.write(self.write_fd, text.encode())

    def close(self) -> None:
        os.close(self.write_fd)
        self.reader.close()


def login_in_thread(*args: str, stdin: Any) -> tuple[threading.Thread, io.StringIO, list[Any]]:
    from oauthcli import cli
    from oauthcli.world import World

    err, outcome = io.StringIO(), []
    world = World(environ=dict(os.environ), stdin=stdin, stdout=io.StringIO(), stderr=err)

    def body() -> None:
        try:
            cli.main(["login", *args], world)
            outcome.append(0)
        except SystemExit as exc:
            outcome.append(exc.code)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, err, outcome


def wait_for(pattern: re.Pattern[str], err: io.StringIO, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(err.getvalue())
        if found:
            return found.group(0)
        time.sleep(0.02)
    raise AssertionError(f"{pattern.pattern} not on stderr: {err.getvalue()!r}")


@pytest.mark.parametrize("tamper", [False, True])
def test_no_browser_paste_back_on_a_terminal(
    login_server: Any, profiles: Any, tamper: bool
) -> None:
    profiles(p=login_profile(login_server))
    terminal = Terminal()
    mark = login_server.log_mark()
    try:
        thread, err, outcome = login_in_thread("p", "--no-browser", stdin=terminal)
        url = wait_for(URL, err)
        callback = browser.authorize(url, "none", login_server.username, login_server.password)
        pasted = callback["callback"]
        if tamper:
            pasted = pasted.replace("state=", "state=x")
        terminal.type("not a url\n\n" + pasted + "\n")
        thread.join(15)
    finally:
        terminal.close()
    text = err.getvalue()
    assert "paste here the address the browser ends up on" in text
    assert "That is not the redirected address" in text  # the first line, and it waited on
    code = re.search(r"code=([\w-]+)", callback["callback"]).group(1)  # type: ignore[union-attr]
    assert code not in text
    if tamper:
        assert outcome == [4] and "has a state that is not this login's" in text
        assert exchanges(login_server, mark) == [] and stored() == []
    else:
        assert outcome == [0] and "Logged in: profile 'p'" in text
        assert len(exchanges(login_server, mark)) == 1 and len(stored()) == 1


# --- the real $BROWSER, through the installed console script --------------------------------


@pytest.mark.slow
def test_console_script_with_browser_env(login_server: Any, profiles: Any, tmp_path: Path) -> None:
    profiles(p=login_profile(login_server, "authcode_basic"))
    log = tmp_path / "browser.log"
    mark = login_server.log_mark()
    result = run_script("login", "p", env=login_server.browser_env("approve", log), timeout=60)
    assert_quiet_success(result)
    assert browser.wait_for_done(log)["callback_status"] == 200
    assert not [s for s in secrets_of(login_server, mark, log) if s in result.stderr]
    token = run_script("token", "p")
    assert token.code == 0 and token.stdout.strip() == state_of()["token"]["access_token"]


@pytest.mark.slow
def test_console_script_browser_timeout(login_server: Any, profiles: Any, tmp_path: Path) -> None:
    profiles(p=login_profile(login_server))
    log = tmp_path / "browser.log"
    env = login_server.browser_env("none", log)
    result = run_script("login", "p", "--timeout", "1.5", env=env, timeout=60)
    assert_failed(result, 5, "login timed out after 1.5s", secrets_of(login_server, 0, log))
    assert browser.wait_for_done(log)["called_back"] is False and stored() == []


# --- the device flow --------------------------------------------------------------------------


class Person:
    """``world.sleep`` of a device login: records each wait (a virtual clock), sleeps a
    twentieth of it for real, and before wait number ``at`` does ``act(user_code)``."""

    def __init__(self, act: Callable[[str], Any] | None = None, at: int = 1) -> None:
        self.clock = Clock(real_fraction=0.05)
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


def device_profile(server: Any, client: str = "device_public", **extra: Any) -> dict[str, Any]:
    c = server.clients[client]
    auth: dict[str, str] = {"type": "none", "client_id": c.client_id}
    if c.client_secret:
        auth = {"type": "basic", "client_id": c.client_id, "client_secret": "${DEVICE_SECRET}"}
    return {"issuer": server.issuer, "auth": auth, "scope": "read", "retries": 0,
            "login": {"flow": "device"}, **extra}  # fmt: skip


@pytest.mark.slow
def test_device_login_slow_down_gaps_at_the_server_then_token(
    login_server: Any, profiles: Any
) -> None:
    login_server.configure(device_interval=1)
    login_server.slow_down(2)
    profiles(p=device_profile(login_server))
    mark = login_server.log_mark()
    person = Person(login_server.approve_device, at=4)
    result = device_login(person, "p")
    assert_quiet_success(result)
    assert person.clock.sleeps == [1, 6, 11, 11]  # wait first; +5 s per slow_down, for good
    polls = login_server.device_polls(since=mark)
    assert [p["error"] for p in polls] == ["slow_down", "slow_down", "authorization_pending", None]
    gaps = login_server.poll_gaps(since=mark)
    assert all(g >= 0.05 * s for g, s in zip(gaps, [6, 11, 11], strict=True)), gaps
    (authorization,) = login_server.requests(mark, path="/o/device-authorization/")
    assert polls[0]["t"] - authorization["t"] >= 0.05  # one interval before the first poll
    assert "enter the code:" in result.stderr and "user_code=" in result.stderr
    device_code = polls[0]["device_code"]
    assert device_code not in result.stderr

    assert run("token", "p").stdout.strip() == state_of()["token"]["access_token"]
    age_state(3600)
    assert run("token", "p").code == 0 and run("refresh", "p").code == 0  # rotation


def test_device_login_confidential_client(
    login_server: Any, profiles: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVICE_SECRET", login_server.clients["device_basic"].client_secret)
    login_server.configure(device_interval=1)
    profiles(p=device_profile(login_server, "device_basic"))
    mark = login_server.log_mark()
    approve = lambda code: login_server.set_device_status(code, "authorized")  # noqa: E731
    result = device_login(Person(approve), "p", "--timeout", "60")
    assert_quiet_success(result)
    (authorization,) = login_server.requests(mark, path="/o/device-authorization/")
    assert authorization["auth"] == "basic"
    assert authorization["form"]["client_id"] == "oauthcli-device-basic"  # DOT needs it
    assert login_server.clients["device_basic"].client_secret not in result.stderr


@pytest.mark.parametrize(
    ("act", "fragment"),
    [("deny", "access_denied"), ("expire", "expired_token")],
)
def test_device_refusals_store_nothing(
    login_server: Any, profiles: Any, act: str, fragment: str
) -> None:
    login_server.configure(device_interval=1)
    profiles(p=device_profile(login_server))
    mark = login_server.log_mark()
    if act == "deny":
        person = Person(login_server.deny_device)
    else:
        person = Person(lambda code: login_server.set_device_status(code, "expired"))
    result = device_login(person, "p")
    codes = tuple(p["device_code"] for p in login_server.device_polls(since=mark))
    assert_failed(result, 4, fragment, codes)
    assert stored() == []


def test_device_code_expiry_and_timeout_are_exit_5(login_server: Any, profiles: Any) -> None:
    login_server.configure(device_interval=1, device_expires_in=3)
    profiles(p=device_profile(login_server))
    person = Person()
    result = device_login(person, "p")
    assert_failed(result, 5, "the device code expired before it was approved")
    assert person.clock.sleeps == [1, 1, 1, 0]

    login_server.configure(device_expires_in=None)
    person = Person()
    result = device_login(person, "p", "--timeout", "2.5")
    assert_failed(result, 5, "login timed out after 2.5s waiting for the code to be approved")
    assert person.clock.sleeps == [1, 1, 0.5]
    assert stored() == [] and PLANTED not in result.stderr
