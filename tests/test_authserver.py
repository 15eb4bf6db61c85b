"""Tests of the test authorization server itself (tests/authserver), with plain requests.

The ``auth_server`` fixture comes from the ``tests.authserver.plugin`` plugin (registered in
the root conftest, or run with ``-p tests.authserver.plugin``).
"""

from __future__ import annotations

import base64
import os
import time

import pytest

requests = pytest.importorskip("requests")


def post(url, **kwargs):
    with requests.Session() as s:
        s.trust_env = False  # never through a proxy from the environment
        return s.post(url, timeout=10, **kwargs)


def get(url, **kwargs):
    with requests.Session() as s:
        s.trust_env = False
        return s.get(url, timeout=10, **kwargs)


def password_grant(auth_server, name, scope="read write"):
    client = auth_server.clients[name]
    form = {
        "grant_type": "password",
        "username": auth_server.username,
        "password": auth_server.password,
        "scope": scope,
    }
    data, headers = client.apply_auth(form)
    return post(auth_server.token_url, data=data, headers=headers)


@pytest.mark.slow
def test_fixture_shape(auth_server):
    assert auth_server.base_url.startswith("http://127.0.0.1:")
    assert auth_server.token_url == auth_server.base_url + "/o/token/"
    assert auth_server.revocation_url == auth_server.base_url + "/o/revoke_token/"
    assert auth_server.introspection_url == auth_server.base_url + "/o/introspect/"
    assert auth_server.protected_url == auth_server.base_url + "/api/hello"
    assert {"basic", "post", "public", "cc", "special"} <= set(auth_server.clients)
    assert auth_server.clients["basic"].auth_method == "client_secret_basic"
    assert auth_server.clients["post"].auth_method == "client_secret_post"
    assert auth_server.clients["public"].auth_method == "none"
    assert auth_server.clients["public"].client_secret is None
    assert auth_server.clients["cc"].grant_type == "client_credentials"
    assert auth_server.username and auth_server.password
    assert auth_server.is_running()


@pytest.mark.parametrize("name", ["basic", "post", "public", "special"])
def test_password_grant_with_each_client_auth_method(auth_server, name):
    response = password_grant(auth_server, name)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["expires_in"] == auth_server.access_token_ttl
    assert isinstance(body["expires_in"], int)
    assert body["scope"] == "read write"


def test_basic_auth_is_form_urlencoded_before_base64(auth_server):
    """RFC 6749 §2.3.1: the special client's id and secret only work when url-encoded."""
    client = auth_server.clients["special"]
    form = {
        "grant_type": "password",
        "username": auth_server.username,
        "password": auth_server.password,
    }
    raw = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    response = post(auth_server.token_url, data=form, headers={"Authorization": "Basic " + raw})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    response = post(
        auth_server.token_url, data=form, headers={"Authorization": client.basic_auth_header()}
    )
    assert response.status_code == 200, response.text


def test_confidential_client_may_use_either_method(auth_server):
    response = auth_server.token_request(
        "basic",
        auth_method="client_secret_post",
        grant_type="password",
        username=auth_server.username,
        password=auth_server.password,
    )
    assert response.status_code == 200, response.text


def test_wrong_client_secret_is_invalid_client(auth_server):
    client = auth_server.clients["basic"]
    response = post(
        auth_server.token_url,
        data={
            "grant_type": "password",
            "username": auth_server.username,
            "password": auth_server.password,
        },
        auth=(client.client_id, "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_user_password_is_invalid_grant(auth_server):
    response = auth_server.token_request(
        "basic", grant_type="password", username=auth_server.username, password="nope"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_default_scope_is_read_write(auth_server):
    assert auth_server.mint_tokens("basic", scope=None)["scope"] == "read write"


def test_client_credentials_grant(auth_server):
    body = auth_server.mint_tokens("cc", scope="read")
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read"
    assert "refresh_token" not in body


@pytest.mark.parametrize("name", ["basic", "post", "public"])
def test_refresh_rotates_and_old_refresh_token_is_dead(auth_server, name):
    first = auth_server.mint_tokens(name)
    response = auth_server.refresh(first["refresh_token"], name)
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == auth_server.access_token_ttl
    assert second["scope"] == "read write"

    reused = auth_server.refresh(first["refresh_token"], name)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    third = auth_server.refresh(second["refresh_token"], name)
    assert third.status_code == 200, third.text


def test_refresh_can_narrow_scope(auth_server):
    rt = auth_server.mint_refresh_token()
    response = auth_server.refresh(rt, scope="read")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


def test_refresh_token_of_another_client_is_refused(auth_server):
    rt = auth_server.mint_refresh_token("basic")
    response = auth_server.refresh(rt, "post")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(auth_server):
    response = auth_server.refresh("no-such-token")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_introspection_active_then_inactive_after_revocation(auth_server):
    tokens = auth_server.mint_tokens("basic")
    info = auth_server.introspect(tokens["access_token"])
    assert info["active"] is True
    assert info["scope"] == "read write"
    assert info["client_id"] == auth_server.clients["basic"].client_id
    assert info["username"] == auth_server.username
    assert abs(info["exp"] - (time.time() + auth_server.access_token_ttl)) < 30

    response = auth_server.revoke(tokens["access_token"], token_type_hint="access_token")
    assert response.status_code == 200, response.text
    assert auth_server.introspect(tokens["access_token"]) == {"active": False}
    assert auth_server.introspect("garbage") == {"active": False}


def test_introspection_client_authentication(auth_server):
    token = auth_server.mint_access_token()
    url = auth_server.introspection_url
    # any confidential client with HTTP Basic, or with client_secret_post
    assert auth_server.introspect(token, client="post")["active"] is True
    data, _ = auth_server.clients["post"].apply_auth({"token": token})
    assert post(url, data=data).json()["active"] is True
    # a Bearer token carrying the `introspection` scope
    bearer = auth_server.mint_access_token("cc", scope="introspection")
    response = post(url, data={"token": token}, headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 200 and response.json()["active"] is True
    # refused: no credentials, a bearer without that scope, a wrong secret (bare 403s)
    assert post(url, data={"token": token}).status_code == 403
    response = post(url, data={"token": token}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    response = post(url, data={"token": token}, auth=(auth_server.clients["basic"].client_id, "x"))
    assert response.status_code == 403


def test_revoking_refresh_token_kills_it_and_its_access_token(auth_server):
    tokens = auth_server.mint_tokens("post")
    response = auth_server.revoke(tokens["refresh_token"], "post", token_type_hint="refresh_token")
    assert response.status_code == 200, response.text
    refreshed = auth_server.refresh(tokens["refresh_token"], "post")
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert auth_server.introspect(tokens["access_token"]) == {"active": False}


def test_revocation_by_public_client_and_unknown_token(auth_server):
    tokens = auth_server.mint_tokens("public")
    assert auth_server.revoke(tokens["refresh_token"], "public").status_code == 200
    assert auth_server.refresh(tokens["refresh_token"], "public").status_code == 400
    # RFC 7009 §2.2: an invalid token is not an error
    assert auth_server.revoke("no-such-token").status_code == 200


def test_protected_resource(auth_server):
    token = auth_server.mint_access_token("basic")
    response = get(auth_server.protected_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"hello": auth_server.username, "scope": "read write"}

    cc_token = auth_server.mint_access_token("cc", scope="read")
    response = get(auth_server.protected_url, headers={"Authorization": f"Bearer {cc_token}"})
    assert response.json()["hello"] == auth_server.clients["cc"].client_id

    response = get(auth_server.protected_url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    response = get(auth_server.protected_url, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    auth_server.revoke(token)
    response = get(auth_server.protected_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.slow
def test_concurrent_token_requests(auth_server):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: password_grant(auth_server, "basic"), range(32)))
    assert [r.status_code for r in results] == [200] * 32


def test_server_logs_requests(auth_server):
    get(auth_server.base_url + "/health")
    assert '"GET /health HTTP/1.1" 200' in auth_server.log()


# -- lifecycle, with a private server (not the session one) -----------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_start_and_stop_leaves_no_process(tmp_path):
    pytest.importorskip("oauth2_provider")
    from tests.authserver.plugin import start_auth_server

    server = start_auth_server(tmp_path, access_token_ttl=42)
    try:
        assert server.startup_seconds < 10
        assert server.mint_tokens()["expires_in"] == 42
    finally:
        server.stop()
    assert not server.is_running()
    assert not _pid_alive(server.pid)
    with pytest.raises(requests.ConnectionError):
        get(server.base_url + "/health")


def test_startup_failure_reports_server_stderr(tmp_path):
    pytest.importorskip("oauth2_provider")
    from tests.authserver.plugin import AuthServerError, start_auth_server

    (tmp_path / "authserver.sqlite3").mkdir()  # the database path is a directory
    with pytest.raises(AuthServerError) as excinfo:
        start_auth_server(tmp_path)
    message = str(excinfo.value)
    assert "failed to start" in message
    assert "--- server stderr ---" in message
    assert "Traceback" in message
