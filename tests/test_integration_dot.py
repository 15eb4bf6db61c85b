"""End to end against a real authorization server (django-oauth-toolkit, see tests/authserver).

Every test runs the installed console script as a subprocess, with a profiles file written into
the test's tmp_path; client secrets come from environment variables (``${env:…}``) except in
the one profile that spells its secret out literally. DOT rotates refresh tokens and answers
400 invalid_grant to a reused one, so these tests prove rotation, state handling, client
authentication (RFC 6749 §2.3.1), revocation (RFC 7009) and the lock of SPEC §6 for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    SCRIPT,
    Result,
    assert_clean_failure,
    run_script,
    state_file,
    write_profiles,
)

TOKEN_REQUEST = re.compile(r'"POST /o/token/ HTTP/1\.[01]" \d{3}')
HELLO = {"hello": "alice", "scope": "read write"}


# --- helpers ----------------------------------------------------------------------------------


def setup(tmp_path: Path, profiles: dict[str, Any], env: dict[str, str] | None = None) -> dict:
    """Write the profiles file; return the environment every oauthcli run of the test gets."""
    path = write_profiles(tmp_path / "profiles.yaml", profiles)
    return {"OAUTHCLI_CONFIG": str(path), **(env or {})}


def oauthcli(env: dict[str, str], *args: str, timeout: float = 30) -> Result:
    return run_script(*args, env=env, timeout=timeout)


def refresh_body(**extra: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": "${refresh_token}", **extra}


def basic_profile(auth_server: Any, **extra: Any) -> dict[str, Any]:
    """Client `basic`, authenticated with HTTP Basic; secret and refresh token from the env."""
    return {
        "token_url": auth_server.token_url,
        "auth": {"type": "basic", "client_id": "${env:CID}", "client_secret": "${env:CSECRET}"},
        "body": refresh_body(),
        "refresh_token": "${env:RT}",
        "retries": 0,
        **extra,
    }


def basic_env(auth_server: Any, refresh_token: str | None = None) -> dict[str, str]:
    client = auth_server.clients["basic"]
    return {
        "CID": client.client_id,
        "CSECRET": client.client_secret,
        "RT": refresh_token or auth_server.mint_refresh_token("basic"),
    }


def state_path(profile: str) -> Path:
    return state_file(os.environ["OAUTHCLI_STATE_DIR"], profile)


def read_state(profile: str) -> dict[str, Any]:
    return json.loads(state_path(profile).read_text())


def token_requests(auth_server: Any) -> int:
    return len(TOKEN_REQUEST.findall(auth_server.log()))


def settled_token_requests(auth_server: Any, at_least: int, timeout: float = 3.0) -> int:
    """The token-request count once the server's log caught up (it logs after responding)."""
    deadline = time.monotonic() + timeout
    while token_requests(auth_server) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a straggler request would be logged by now
    return token_requests(auth_server)


def assert_ok(result: Result, *secrets: str) -> str:
    """Exit 0, exactly one access token on stdout, nothing secret anywhere; returns the token."""
    assert result.code == 0, result
    assert re.fullmatch(r"[A-Za-z0-9_\-.~+/=]+\n", result.stdout), result
    for secret in secrets:
        if secret:
            assert secret not in result.stdout, (secret, result)
            assert secret not in result.stderr, (secret, result)
    assert "Traceback" not in result.stderr
    return result.stdout.strip()


def assert_active(auth_server: Any, access_token: str, client_id: str) -> None:
    info = auth_server.introspect(access_token)
    assert info.get("active") is True, info
    assert info.get("client_id") == client_id, info


def hello(auth_server: Any, access_token: str) -> int:
    response = auth_server.session.get(
        auth_server.protected_url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    )
    return response.status_code


# --- client authentication --------------------------------------------------------------------


def test_refresh_basic_auth(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    result = oauthcli(env, "refresh", "p")
    access = assert_ok(result, env["CSECRET"], env["RT"])
    assert_active(auth_server, access, env["CID"])
    assert hello(auth_server, access) == 200
    rotated = read_state("p")["rotated_refresh_token"]
    assert rotated and rotated != env["RT"]
    assert rotated not in result.stdout + result.stderr
    assert auth_server.refresh(env["RT"]).status_code == 400  # oauthcli really used it


def test_refresh_client_secret_post_from_env(auth_server, tmp_path):
    client = auth_server.clients["post"]
    rt = auth_server.mint_refresh_token("post")
    profile = {
        "token_url": auth_server.token_url,
        "body": refresh_body(client_id="${env:ID}", client_secret="${env:SECRET}"),
        "refresh_token": "${env:RT}",
        "retries": 0,
    }
    env = setup(
        tmp_path,
        {"post": profile},
        {"ID": client.client_id, "SECRET": client.client_secret, "RT": rt},
    )
    access = assert_ok(oauthcli(env, "refresh", "post"), client.client_secret, rt)
    assert_active(auth_server, access, client.client_id)


def test_refresh_client_secret_post_literal_secrets(auth_server, tmp_path):
    """Secrets written into the profile itself are secrets too: never echoed anywhere."""
    client = auth_server.clients["post"]
    rt = auth_server.mint_refresh_token("post")
    profile = {
        "token_url": auth_server.token_url,
        "body": refresh_body(client_id=client.client_id, client_secret=client.client_secret),
        "refresh_token": rt,
        "retries": 0,
    }
    env = setup(tmp_path, {"literal": profile})
    result = oauthcli(env, "-v", "refresh", "literal")
    access = assert_ok(result, client.client_secret, rt)
    assert_active(auth_server, access, client.client_id)
    rotated = read_state("literal")["rotated_refresh_token"]
    assert rotated not in result.stderr
    assert access not in result.stderr
    # `show` and `--dry-run` do not reveal them either.
    for args in (("show", "literal"), ("refresh", "literal", "--dry-run")):
        shown = oauthcli(env, *args)
        assert shown.code == 0, shown
        for secret in (client.client_secret, rt, rotated):
            assert secret not in shown.stdout + shown.stderr, (args, shown)


def test_refresh_public_client(auth_server, tmp_path):
    client = auth_server.clients["public"]
    rt = auth_server.mint_refresh_token("public")
    profile = {
        "token_url": auth_server.token_url,
        "body": refresh_body(client_id="${env:ID}"),
        "refresh_token": "${env:RT}",
        "retries": 0,
    }
    env = setup(tmp_path, {"pub": profile}, {"ID": client.client_id, "RT": rt})
    access = assert_ok(oauthcli(env, "refresh", "pub"), rt)
    assert_active(auth_server, access, client.client_id)
    # and again, with the rotated refresh token from the store
    again = assert_ok(oauthcli(env, "refresh", "pub"), rt)
    assert again != access


def special_env(auth_server: Any) -> dict[str, str]:
    client = auth_server.clients["special"]
    return {
        "ID": client.client_id,
        "SECRET": client.client_secret,
        "RT": auth_server.mint_refresh_token("special"),
    }


SPECIAL_PROFILES = {
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64
    "basic": {
        "auth": {"type": "basic", "client_id": "${env:ID}", "client_secret": "${env:SECRET}"},
        "body": refresh_body(),
    },
    # a mapping body: every value percent-encoded
    "form": {"body": refresh_body(client_id="${env:ID}", client_secret="${env:SECRET}")},
    # a string body: the substituted values percent-encoded, the literal text kept
    "string": {
        "body": "grant_type=refresh_token&refresh_token=${refresh_token}"
        "&client_id=${env:ID}&client_secret=${env:SECRET}"
    },
}


@pytest.mark.parametrize("style", sorted(SPECIAL_PROFILES))
def test_refresh_special_characters(auth_server, tmp_path, style):
    """id `special client:id+%/é`, secret `s3cr%t ^*&=+#:?/ …`: every encoding must be right."""
    env = special_env(auth_server)
    assert re.search(r"[: +%/é]", env["ID"]) and re.search(r"[% ^*&=+#:?/]", env["SECRET"])
    profile = {
        "token_url": auth_server.token_url,
        "refresh_token": "${env:RT}",
        "retries": 0,
        **SPECIAL_PROFILES[style],
    }
    env = setup(tmp_path, {"special": profile}, env)
    result = oauthcli(env, "refresh", "special")
    access = assert_ok(result, env["SECRET"], env["RT"])
    assert_active(auth_server, access, env["ID"])
    assert auth_server.refresh(env["RT"], client="special").status_code == 400  # it was used


def test_client_credentials(auth_server, tmp_path):
    client = auth_server.clients["cc"]
    profile = {
        "token_url": auth_server.token_url,
        "auth": {"type": "basic", "client_id": "${env:ID}", "client_secret": "${env:SECRET}"},
        "body": {"grant_type": "client_credentials", "scope": "read"},
        "retries": 0,
    }
    env = setup(tmp_path, {"cc": profile}, {"ID": client.client_id, "SECRET": client.client_secret})
    first = assert_ok(oauthcli(env, "refresh", "cc"), client.client_secret)
    assert_active(auth_server, first, client.client_id)
    assert auth_server.introspect(first)["scope"] == "read"
    assert read_state("cc")["rotated_refresh_token"] is None
    second = assert_ok(oauthcli(env, "token", "cc", "--force"), client.client_secret)
    assert second != first
    assert hello(auth_server, second) == 200


# --- rotation ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_thirty_consecutive_rotations(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    tokens = []
    refresh_tokens = [env["RT"]]
    for i in range(30):
        result = oauthcli(env, "refresh", "p")
        assert result.code == 0, (i, result)
        tokens.append(assert_ok(result, env["CSECRET"], *refresh_tokens))
        refresh_tokens.append(read_state("p")["rotated_refresh_token"])
    assert len(set(tokens)) == 30
    assert len(set(refresh_tokens)) == 31
    assert_active(auth_server, tokens[-1], env["CID"])
    # every refresh token but the last was used once and is dead now
    assert auth_server.refresh(refresh_tokens[-2]).status_code == 400


@pytest.mark.slow
def test_dead_refresh_token_is_a_clean_invalid_grant(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    assert_ok(oauthcli(env, "refresh", "p"), env["CSECRET"], env["RT"])
    for path in Path(os.environ["OAUTHCLI_STATE_DIR"]).iterdir():
        path.unlink()
    Path(os.environ["OAUTHCLI_STATE_DIR"]).rmdir()
    result = oauthcli(env, "refresh", "p")  # falls back to the configured, now used, token
    assert_clean_failure(result, 4, "invalid_grant", secrets=(env["CSECRET"], env["RT"]))
    assert "a person must authorise again" in result.stderr, result
    assert not state_path("p").exists()


@pytest.mark.slow
def test_changed_configured_refresh_token_wins(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    assert_ok(oauthcli(env, "refresh", "p"), env["CSECRET"], env["RT"])
    stale_rotated = read_state("p")["rotated_refresh_token"]
    new_rt = auth_server.mint_refresh_token("basic")
    env["RT"] = new_rt
    access = assert_ok(oauthcli(env, "refresh", "p"), env["CSECRET"], new_rt, stale_rotated)
    assert_active(auth_server, access, env["CID"])
    assert auth_server.refresh(new_rt).status_code == 400  # the new one was used...
    state = read_state("p")
    assert state["rotated_refresh_token"] not in (new_rt, stale_rotated)
    # ...and the rotated one it replaced was never sent: it still works at DOT
    assert auth_server.refresh(stale_rotated).status_code == 200
    # the run after that keeps using the store, not the (now used) configured token
    assert_ok(oauthcli(env, "refresh", "p"), env["CSECRET"], new_rt)


# --- token, env, exec -------------------------------------------------------------------------


@pytest.mark.slow
def test_token_is_served_from_the_store(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    before = settled_token_requests(auth_server, 0, timeout=0)
    first = assert_ok(oauthcli(env, "token", "p"), env["CSECRET"], env["RT"])
    second = assert_ok(oauthcli(env, "token", "p"), env["CSECRET"], env["RT"])
    assert first == second
    assert settled_token_requests(auth_server, before + 1) == before + 1
    assert_active(auth_server, second, env["CID"])
    as_json = oauthcli(env, "token", "p", "-f", "json")
    assert as_json.code == 0, as_json
    data = json.loads(as_json.stdout)
    assert data["access_token"] == first and data["profile"] == "p"
    assert 200 < data["expires_in"] <= auth_server.access_token_ttl
    assert "refresh_token" not in data
    assert token_requests(auth_server) == before + 1


def test_env_eval_then_curl(auth_server, tmp_path):
    env = setup(tmp_path, {"api": basic_profile(auth_server)}, basic_env(auth_server))
    script = (
        f'set -e; eval "$({SCRIPT} env api)"; '
        f'curl -sf --noproxy "*" -H "Authorization: Bearer $ACCESS_TOKEN" {auth_server.protected_url}'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done
    assert json.loads(done.stdout) == HELLO
    assert env["CSECRET"] not in done.stderr


def test_exec_runs_curl_with_the_token(auth_server, tmp_path):
    env = setup(tmp_path, {"api": basic_profile(auth_server)}, basic_env(auth_server))
    command = f'curl -sf --noproxy "*" -H "Authorization: Bearer $ACCESS_TOKEN" {auth_server.protected_url}'
    result = oauthcli(env, "exec", "api", "--", "sh", "-c", command)
    assert result.code == 0, result
    assert json.loads(result.stdout) == HELLO
    # exec exits with COMMAND's status: a rejected token makes curl -f fail with 22
    bad = oauthcli(env, "exec", "api", "--", "sh", "-c", command.replace("$ACCESS_TOKEN", "nope"))
    assert bad.code == 22, bad


def test_token_header_format_with_curl(auth_server, tmp_path):
    env = setup(tmp_path, {"api": basic_profile(auth_server)}, basic_env(auth_server))
    script = (
        f'set -e; curl -sf --noproxy "*" -H "$({SCRIPT} token api -f header)" '
        f"{auth_server.protected_url}"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done
    assert json.loads(done.stdout) == HELLO


# --- forget --revoke --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_forget_revoke(auth_server, tmp_path, client_auth):
    if client_auth == "basic":
        env = basic_env(auth_server)
        profile = basic_profile(auth_server, revocation_url=auth_server.revocation_url)
    else:
        client = auth_server.clients["post"]
        env = {
            "ID": client.client_id,
            "SECRET": client.client_secret,
            "RT": auth_server.mint_refresh_token("post"),
        }
        profile = {
            "token_url": auth_server.token_url,
            "revocation_url": auth_server.revocation_url,
            "body": refresh_body(client_id="${env:ID}", client_secret="${env:SECRET}"),
            "refresh_token": "${env:RT}",
            "retries": 0,
        }
    env = setup(tmp_path, {"p": profile}, env)
    secret = env.get("CSECRET") or env["SECRET"]
    client_id = env.get("CID") or env["ID"]
    access = assert_ok(oauthcli(env, "refresh", "p"), secret, env["RT"])
    rotated = read_state("p")["rotated_refresh_token"]
    assert_active(auth_server, access, client_id)

    result = oauthcli(env, "forget", "p", "--revoke")
    assert result.code == 0, result
    assert result.stdout == ""
    assert "revoked" in result.stderr, result
    for value in (secret, env["RT"], rotated, access):
        assert value not in result.stderr
    assert not state_path("p").exists()
    dead = auth_server.refresh(rotated, client=client_auth)
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant", dead.text
    assert auth_server.introspect(access).get("active") is False  # DOT revoked the access token
    assert hello(auth_server, access) == 401


# --- verbose ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["basic", "string"])
def test_verbose_trace_has_no_secret(auth_server, tmp_path, style):
    if style == "basic":
        env = basic_env(auth_server)
        profile = basic_profile(auth_server)
        secret, client_id = env["CSECRET"], env["CID"]
    else:
        env = special_env(auth_server)
        profile = {
            "token_url": auth_server.token_url,
            "refresh_token": "${env:RT}",
            "retries": 0,
            **SPECIAL_PROFILES["string"],
        }
        secret, client_id = env["SECRET"], env["ID"]
    env = setup(tmp_path, {"p": profile}, env)
    result = oauthcli(env, "-v", "refresh", "p")
    access = assert_ok(result, secret, env["RT"])
    rotated = read_state("p")["rotated_refresh_token"]
    trace = result.stderr
    assert f"POST {auth_server.token_url}" in trace, trace
    assert "response: HTTP 200" in trace, trace
    assert "****" in trace
    from urllib.parse import quote, quote_plus

    for value in (secret, env["RT"], rotated, access):
        for form in {value, quote_plus(value), quote(value, safe="")}:
            assert form not in trace, (form, trace)
    if style == "basic":
        import base64

        raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
        assert base64.b64encode(raw).decode() not in trace
    assert_active(auth_server, access, client_id)


# --- concurrency ------------------------------------------------------------------------------


def make_stale(path: Path) -> None:
    """Move the stored token's expiry into the past, keeping the file's 0600 mode."""
    state = json.loads(path.read_text())
    state["token"]["expires_at"] = time.time() - 10
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(state))
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_sixteen_concurrent_token_calls_refresh_once(auth_server, tmp_path):
    env = setup(tmp_path, {"p": basic_profile(auth_server)}, basic_env(auth_server))
    previous = assert_ok(oauthcli(env, "refresh", "p"), env["CSECRET"], env["RT"])
    path = state_path("p")
    full_env = {**os.environ, **env}
    for round_ in range(3):
        make_stale(path)
        before = settled_token_requests(auth_server, 0, timeout=0)
        procs = [
            subprocess.Popen(
                [SCRIPT, "token", "p"],
                env=full_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(16)
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            results.append(Result(proc.returncode, out, err))
        for result in results:
            assert result.code == 0, (round_, result)
            assert result.stderr == "", (round_, result)
        tokens = {r.stdout for r in results}
        assert len(tokens) == 1, (round_, tokens)
        token = tokens.pop().strip()
        assert token != previous, round_
        assert settled_token_requests(auth_server, before + 1) == before + 1, round_
        assert_active(auth_server, token, env["CID"])
        assert read_state("p")["token"]["access_token"] == token
        assert path.stat().st_mode & 0o777 == 0o600
        previous = token
