"""The Python API (SPEC §11): get_token, BearerAuth for requests and httpx, OAuthCliError.

Against the django-oauth-toolkit server's protected endpoint (``/api/hello``, 401 without a
valid bearer token) for real, and against the loopback server where requests must be counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

import oauthcli
from tests.conftest import PLANTED, run, run_script, state_file, write_profiles
from tests.server import LoopbackServer, Request, Response

HELLO = {"hello": "alice", "scope": "read write"}
TOKEN_REQUEST = re.compile(r'"POST /o/token/ HTTP/1\.[01]" \d{3}')


def dot_profile(tmp_path: Path, auth_server: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profile `corp`: DOT's `basic` client, secret and refresh token from the environment."""
    client = auth_server.clients["basic"]
    monkeypatch.setenv("CID", client.client_id)
    monkeypatch.setenv("CSECRET", client.client_secret)
    monkeypatch.setenv("RT", auth_server.mint_refresh_token())
    return write_profiles(tmp_path / "profiles.yaml", {"corp": {
        "token_url": auth_server.token_url, "refresh_token": "${env:RT}", "retries": 0,
        "auth": {"type": "basic", "client_id": "${env:CID}", "client_secret": "${env:CSECRET}"},
    }})  # fmt: skip


def token_requests(auth_server: Any) -> int:
    return len(TOKEN_REQUEST.findall(auth_server.log()))


def no_proxy() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


# --- get_token --------------------------------------------------------------------------------


@pytest.mark.slow
def test_get_token_shares_the_store_and_caching_with_the_cli(
    tmp_path: Path, auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dot_profile(tmp_path, auth_server, monkeypatch)
    before = token_requests(auth_server)
    token = oauthcli.get_token("corp", config=config)
    assert isinstance(token, str) and token
    assert oauthcli.get_token("corp", config=str(config)) == token  # from the store
    assert run("-c", str(config), "token", "corp").stdout == token + "\n"  # the CLI's store too
    assert token_requests(auth_server) - before == 1
    hello = no_proxy().get(auth_server.protected_url, headers={"Authorization": f"Bearer {token}"})
    assert hello.json() == HELLO
    fresh = oauthcli.get_token("corp", config=config, force=True)
    assert fresh != token and token_requests(auth_server) - before == 2
    assert oauthcli.get_token("corp", config=config, min_valid=0) == fresh


def test_errors_carry_the_cli_exit_codes(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(400, {"error": "invalid_grant", "error_description": "dead"}))
    config = profiles_file()
    with pytest.raises(oauthcli.ConfigError) as unknown:
        oauthcli.get_token("nope", config=config)
    assert unknown.value.exit_code == 3 and "nope" in str(unknown.value)
    with pytest.raises(oauthcli.OAuthCliError) as refused:
        oauthcli.get_token("p", config=config)
    assert isinstance(refused.value, oauthcli.ProviderError)
    assert refused.value.exit_code == oauthcli.ExitCode.REFUSED == 4
    assert "invalid_grant" in str(refused.value) and refused.value.hint
    with pytest.raises(oauthcli.UsageError):
        oauthcli.get_token("p", config=config, min_valid=float("inf"))


def test_error_messages_are_redacted(tmp_path: Path, server: LoopbackServer) -> None:
    server.reply("/token", Response(400, {"error": "invalid_client",
                                          "error_description": f"bad secret {PLANTED}"}))  # fmt: skip
    config = write_profiles(tmp_path / "p.yaml", {"p": {
        "token_url": server.url("/token"), "refresh_token": "rt", "retries": 0,
        "auth": {"type": "basic", "client_id": "cid", "client_secret": PLANTED}}})  # fmt: skip
    with pytest.raises(oauthcli.ProviderError) as refused:
        oauthcli.get_token("p", config=config)
    assert PLANTED not in str(refused.value) and PLANTED not in repr(refused.value.args)
    assert "invalid_client" in str(refused.value)


# --- BearerAuth -------------------------------------------------------------------------------


@pytest.mark.slow
def test_bearer_auth_with_requests_and_httpx(
    tmp_path: Path, auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dot_profile(tmp_path, auth_server, monkeypatch)
    auth = oauthcli.BearerAuth("corp", config=config)
    assert isinstance(auth, requests.auth.AuthBase) and isinstance(auth, httpx.Auth)
    assert no_proxy().get(auth_server.protected_url, auth=auth).json() == HELLO
    with httpx.Client(trust_env=False) as client:
        assert client.get(auth_server.protected_url, auth=auth).json() == HELLO

    async def fetch() -> Any:
        async with httpx.AsyncClient(trust_env=False) as client:
            return (await client.get(auth_server.protected_url, auth=auth)).json()

    assert asyncio.run(fetch()) == HELLO


@pytest.mark.slow
@pytest.mark.parametrize("library", ["requests", "httpx", "httpx-async"])
def test_a_401_refreshes_once_and_retries_once(
    tmp_path: Path, auth_server: Any, monkeypatch: pytest.MonkeyPatch, library: str
) -> None:
    """The stored token still looks valid, but the server does not know it: 401, refresh, retry.

    (Revoking it at DOT would revoke the refresh token with it; so the stored one is replaced.)
    """
    config = dot_profile(tmp_path, auth_server, monkeypatch)
    oauthcli.get_token("corp", config=config)
    path = state_file(os.environ["OAUTHCLI_STATE_DIR"], "corp")
    state = json.loads(path.read_text())
    revoked = state["token"]["access_token"] = "a-token-the-server-never-issued"
    path.write_text(json.dumps(state))
    assert oauthcli.get_token("corp", config=config) == revoked
    before = token_requests(auth_server)
    auth = oauthcli.BearerAuth("corp", config=config)
    response = _get(library, auth_server.protected_url, auth, data=b"a body, sent twice")
    assert response.status_code == 200 and response.json() == HELLO
    assert token_requests(auth_server) - before == 1
    assert oauthcli.get_token("corp", config=config) != revoked  # the new one was stored


def _get(library: str, url: str, auth: Any, data: bytes) -> Any:
    if library == "requests":
        response = no_proxy().post(url, auth=auth, data=data)
        assert [r.status_code for r in response.history] == [401]
        return response
    if library == "httpx":
        with httpx.Client(trust_env=False) as client:
            return client.post(url, auth=auth, content=data)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(trust_env=False) as client:
            return await client.post(url, auth=auth, content=data)

    return asyncio.run(send())


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_a_second_401_is_returned_not_retried_again(
    profiles_file: Any, server: LoopbackServer, library: str
) -> None:
    tokens = iter(f"token-{n}" for n in range(1, 10))
    server.route("/token", lambda r: Response(200, {"access_token": next(tokens),
                                                    "expires_in": 3600}))  # fmt: skip
    server.reply("/api", Response(401, {"error": "invalid_token"}))
    config = profiles_file()
    auth = oauthcli.BearerAuth("p", config=config)
    if library == "requests":
        status = no_proxy().get(server.url("/api"), auth=auth).status_code
    else:
        with httpx.Client(trust_env=False) as client:
            status = client.get(server.url("/api"), auth=auth).status_code
    assert status == 401
    seen = [r.headers["authorization"] for r in server.hits("/api")]
    assert seen == ["Bearer token-1", "Bearer token-2"]  # one retry, with the refreshed token
    assert len(server.hits("/token")) == 2  # the first token, and one refresh after the 401


@pytest.mark.slow
def test_a_token_refreshed_meanwhile_is_reused_not_refreshed_again(
    profiles_file: Any, server: LoopbackServer
) -> None:
    """After a 401, a token another process stored meanwhile is tried before refreshing."""
    tokens = iter(["old", "new", "unexpected"])
    server.route("/token", lambda r: Response(200, {"access_token": next(tokens),
                                                    "expires_in": 3600}))  # fmt: skip

    def api(request: Request) -> Response:
        if request.headers.get("authorization") == "Bearer old":
            assert run_script("refresh", "p").stdout == "new\n"  # another process, meanwhile
            return Response(401, {"ok": False})
        return Response(200, {"ok": request.headers.get("authorization") == "Bearer new"})

    server.route("/api", api)
    config = profiles_file()
    auth = oauthcli.BearerAuth("p", config=config)
    assert no_proxy().get(server.url("/api"), auth=auth).json() == {"ok": True}
    assert len(server.hits("/token")) == 2  # "old" and the other process's "new": no third


def test_processes_refused_at_once_refresh_once_between_them(
    profiles_file: Any, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two holders of "old" get a 401 at once. A (the console script) refreshes; B had already
    looked at the store (still "old") and waits for the lock A holds. Under the lock B finds
    A's "new" and uses it: one refresh between them, not one each.

    The order is forced: A's token request is held at the server until B is about to take the
    lock (B's call of driver.obtain with the refused token is the signal)."""
    import threading

    from oauthcli.grants import driver

    b_waits = threading.Event()
    tokens = iter(["old", "new", "third: B refreshed too"])

    def token_endpoint(request: Request) -> Response:
        if len(server.hits("/token")) == 2:  # A's refresh: until B is past its first look
            assert b_waits.wait(30)
        return Response(200, {"access_token": next(tokens), "expires_in": 3600})

    server.route("/token", token_endpoint)
    config = profiles_file()
    assert run_script("token", "p").stdout == "old\n"
    original = driver.obtain

    def obtain(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("force"):
            b_waits.set()
        return original(*args, **kwargs)

    monkeypatch.setattr(driver, "obtain", obtain)
    a = subprocess.Popen([sys.executable, "-m", "oauthcli", "refresh", "p"],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    while len(server.hits("/token")) < 2:  # A holds the lock and waits at the server
        assert a.poll() is None
        threading.Event().wait(0.01)
    source = oauthcli.BearerAuth("p", config=config)._source
    assert source.renewed("old") == "new"
    assert a.communicate(timeout=30)[0] == "new\n"
    assert b_waits.is_set()
    assert len(server.hits("/token")) == 2  # "old", A's "new"; B sent nothing


def test_import_oauthcli_is_cheap() -> None:
    code = ("import sys, oauthcli; print(sorted(m for m in sys.modules if m.startswith("
            "('oauthcli', 'requests', 'httpx', 'yaml', 'typer'))))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "['oauthcli']", done
    assert oauthcli.__all__ and all(hasattr(oauthcli, name) for name in oauthcli.__all__)
    with pytest.raises(AttributeError):
        oauthcli.no_such_name  # noqa: B018
