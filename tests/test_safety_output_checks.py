"""Issue 11: `validate` passes only what something verified, and `forget` does not silently drop
the only live refresh token.

validate (SPEC §13): a token is valid only when a signature, an introspection, a probe or the
stored expiry of a token oauthcli obtained itself vouches for it; with JWT settings configured a
token that is not a JWT fails. forget: a stored rotated refresh token that is not revoked needs a
"yes" on a terminal, or --yes; off a terminal, without --yes, it is a usage error naming --yes
and nothing is deleted. The forget cases run against a rotating loopback provider and against a
real django-oauth-toolkit server, where the grant must still work afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    PLANTED,
    SCRIPT,
    Result,
    assert_clean_failure,
    run,
    state_file,
    write_profiles,
)
from tests.server import LoopbackServer, RotatingProvider
from tests.test_validate import EC_KEY, mint, public_jwk

GARBAGE = "garbage-token-0123456789"


def report(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def verdicts(result: Result) -> dict[str, str]:
    return {c["name"]: c["result"] for c in report(result)["checks"]}


def detail(result: Result, name: str) -> str:
    return next(c["detail"] for c in report(result)["checks"] if c["name"] == name)


def assert_not_valid(result: Result, check: str, fragment: str, *secrets: str) -> None:
    """Exit 1; the report on stdout says so; one error line on stderr names the check."""
    assert result.code == 1, result
    assert report(result)["valid"] is False
    assert verdicts(result)[check] == "fail", result
    assert fragment in detail(result, check), result
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: profile 'p': token not valid: {check}: "), result
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result
    for secret in (PLANTED, *secrets):
        assert secret not in result.stdout + result.stderr


# --- item 3: validate -------------------------------------------------------------------------


def test_garbage_with_nothing_configured_is_not_valid(profiles_file: Any) -> None:
    profiles_file()
    result = run("validate", "p", "--token", GARBAGE, "-f", "json")
    assert_not_valid(result, "verification", "nothing verified the token from --token", GARBAGE)
    assert "hint: configure validate.jwks_url" in result.stderr
    table = run("validate", "p", "--token", GARBAGE)
    assert table.code == 1 and "p: NOT valid" in table.stdout and GARBAGE not in table.stdout


def test_garbage_from_stdin_is_not_valid_either(profiles_file: Any) -> None:
    profiles_file()
    result = run("validate", "p", "--token", "-", "-f", "json", stdin=GARBAGE + "\n")
    assert_not_valid(result, "verification", "from stdin", GARBAGE)


def test_a_well_formed_unverified_jwt_is_not_valid(profiles_file: Any) -> None:
    """Its exp is in the future and it parses, but anyone can write claims: nothing verified it."""
    profiles_file()
    token = mint(EC_KEY, "ES256", kid="ec-1")
    result = run("validate", "p", "--token", token, "-f", "json")
    assert verdicts(result)["exp"] == "pass" and verdicts(result)["signature"] == "skipped"
    assert_not_valid(result, "verification", "nothing verified", token)


def forged(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'rsa-1'})}.{part(claims)}.c2lnbmF0dXJl"


def test_a_forged_jwt_with_every_claim_right_is_not_valid(profiles_file: Any) -> None:
    profiles_file()
    token = forged({"iss": "x", "aud": "y", "exp": time.time() + 600})
    assert_not_valid(run("validate", "p", "--token", token, "-f", "json"), "verification",
                     "nothing verified", token)  # fmt: skip


@pytest.mark.parametrize(
    ("validate", "named"),
    [({"jwks_url": "http://127.0.0.1:9/jwks"}, "validate.jwks_url"),
     ({"issuer": "https://issuer.example"}, "validate.issuer"),
     ({"audience": ["api://a", "api://b"]}, "validate.audience")],
)  # fmt: skip
def test_an_opaque_token_fails_when_jwt_checks_are_configured(
    profiles_file: Any, validate: dict[str, Any], named: str
) -> None:
    profiles_file({"p": {"validate": validate}})
    result = run("validate", "p", "--token", GARBAGE, "-f", "json")
    assert_not_valid(result, "jwt", f"not a JWT (opaque token), but {named} expects a JWT", GARBAGE)
    assert verdicts(result)["verification"] == "skipped"  # decided by the jwt check


def test_an_encrypted_jwt_fails_when_jwt_checks_are_configured(profiles_file: Any) -> None:
    profiles_file({"p": {"validate": {"audience": "api://a"}}})
    header = base64.urlsafe_b64encode(b'{"alg":"RSA-OAEP","enc":"A256GCM"}').rstrip(b"=").decode()
    token = f"{header}.a2V5.aXY.Y2lwaGVy.dGFn"
    result = run("validate", "p", "--token", token, "-f", "json")
    assert_not_valid(result, "jwt", "encrypted JWT (JWE, alg RSA-OAEP)", token)


def test_an_opaque_token_an_introspection_vouches_for_is_valid(
    auth_server: Any, profiles_file: Any
) -> None:
    client = auth_server.clients["basic"]
    profiles_file({"p": {"token_url": auth_server.token_url,
                         "auth": {"type": "basic", "client_id": client.client_id,
                                  "client_secret": client.client_secret},
                         "validate": {"introspection_url": auth_server.introspection_url}}})  # fmt: skip
    token = auth_server.mint_access_token()
    result = run("validate", "p", "--token", token, "-f", "json")
    assert result.code == 0, result
    assert detail(result, "verification") == "verified by introspection"
    assert result.stderr == ""
    revoked = auth_server.mint_access_token()
    assert auth_server.revoke(revoked).status_code == 200
    assert_not_valid(run("validate", "p", "--token", revoked, "-f", "json"), "introspection",
                     "not active", revoked, client.client_secret)  # fmt: skip


def test_a_jwt_whose_signature_verifies_is_valid(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/jwks", body={"keys": [public_jwk(EC_KEY, "ec-1")]})
    profiles_file({"p": {"validate": {"jwks_url": server.url("/jwks")}}})
    token = mint(EC_KEY, "ES256", kid="ec-1")
    result = run("validate", "p", "--token", token, "-f", "json")
    assert result.code == 0, result
    assert detail(result, "verification") == "verified by its signature"


def test_the_stored_token_oauthcli_obtained_is_verified_by_its_stored_expiry(
    rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file()
    assert run("refresh", "p").code == 0
    result = run("validate", "p", "-f", "json")
    assert result.code == 0, result
    assert detail(result, "verification") == (
        "verified by the stored expiry of a token oauthcli obtained")  # fmt: skip
    # the same string given with --token is not vouched for by anything
    given = run("validate", "p", "--token", "at-0001-abcdefgh", "-f", "json")
    assert_not_valid(given, "verification", "nothing verified", "at-0001-abcdefgh")


def test_a_network_failure_stays_exit_5_not_invalid(profiles_file: Any) -> None:
    profiles_file({"p": {"validate": {"introspection_url": "http://127.0.0.1:9/introspect"}}})
    result = run("validate", "p", "--token", GARBAGE, "-f", "json")
    assert result.code == 5, result
    assert verdicts(result)["introspection"] == "error"
    assert verdicts(result)["verification"] == "skipped"
    assert result.stderr.startswith("error: profile 'p': introspection could not be checked")


# --- item 4: forget ---------------------------------------------------------------------------


def state_dir() -> Path:
    return Path(os.environ["OAUTHCLI_STATE_DIR"])


def stored(profile: str = "p") -> bool:
    return state_file(state_dir(), profile).exists()


@pytest.fixture
def rotated(rotating: RotatingProvider, profiles_file: Any) -> RotatingProvider:
    """Profile `p` refreshed once: the store holds rt-rotated-0001, the profile's is dead."""
    profiles_file()
    assert run("refresh", "p").code == 0
    assert rotating.live == "rt-rotated-0001"
    return rotating


def test_forget_off_a_terminal_needs_yes_and_deletes_nothing(rotated: RotatingProvider) -> None:
    result = run("forget", "p")
    assert_clean_failure(result, 2, "not forgetting 'p'", "not revoked",
                         secrets=("rt-rotated-0001", "at-0001-abcdefgh"))  # fmt: skip
    assert "hint: pass --yes to forget anyway, or --revoke to revoke it first" in result.stderr
    assert stored()
    assert run("token", "p", "--force").code == 0  # the grant still works
    assert rotated.counter == 2


def test_forget_yes_deletes(rotated: RotatingProvider) -> None:
    result = run("forget", "p", "-y")
    assert (result.code, result.stdout) == (0, ""), result
    assert result.stderr == "p: stored token deleted\n"
    assert not stored()


def test_forget_revoke_needs_no_confirmation(
    server: LoopbackServer, rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file({"p": {"revocation_url": server.url("/revoke")}})
    run("refresh", "p")
    result = run("forget", "p", "--revoke")
    assert result.code == 0, result
    assert rotating.revoked == ["rt-rotated-0001"] and not stored()


def test_state_without_a_rotated_refresh_token_is_forgotten_without_asking(
    server: LoopbackServer, profiles_file: Any
) -> None:
    server.reply("/token", body={"access_token": "at-no-rotation", "expires_in": 3600})
    profiles_file()
    assert run("refresh", "p").code == 0
    assert run("forget", "p").code == 0 and not stored()


def test_an_echoed_refresh_token_is_not_a_rotated_one(server: LoopbackServer, profiles_file: Any) -> None:
    """A provider that returns the same refresh token has not rotated anything: nothing to lose."""
    server.reply("/token", body={"access_token": "at-x", "expires_in": 3600,
                                 "refresh_token": "rt-initial-0001"})  # fmt: skip
    profiles_file()
    assert run("refresh", "p").code == 0
    assert run("forget", "p").code == 0 and not stored()


def test_forget_all_refuses_before_deleting_anything(
    server: LoopbackServer, profiles_file: Any
) -> None:
    server.route("/rotating", RotatingProvider())
    server.reply("/plain", body={"access_token": "at-plain", "expires_in": 3600})
    profiles_file({"plain": {"token_url": server.url("/plain")},
                   "rot": {"token_url": server.url("/rotating")}})  # fmt: skip
    assert run("refresh", "plain", "rot").code == 0
    result = run("forget", "--all")
    assert_clean_failure(result, 2, "not forgetting", "rot@", "not revoked")
    assert "--yes" in result.stderr
    assert stored("plain") and stored("rot")  # not even the safe one went
    assert run("forget", "--all", "--yes").code == 0
    assert not stored("plain") and not stored("rot")


def test_forget_several_names_the_ones_at_risk(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/rotating", RotatingProvider())
    server.reply("/plain", body={"access_token": "at-plain", "expires_in": 3600})
    profiles_file({"plain": {"token_url": server.url("/plain")},
                   "rot": {"token_url": server.url("/rotating")}})  # fmt: skip
    run("refresh", "plain", "rot")
    result = run("forget", "plain", "rot")
    assert_clean_failure(result, 2, "not forgetting 'rot'")
    assert "'plain'" not in result.error_line and stored("plain")


def in_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run the console script with stdin, stdout and stderr on a pseudo-terminal; answer the
    prompt (or hang up on it with answer == "EOF"). Returns the exit code and all output."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen([SCRIPT, *args], stdin=secondary, stdout=secondary,
                               stderr=secondary, env=dict(os.environ), close_fds=True)  # fmt: skip
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 30
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(primary, b"\x04" if answer == "EOF" else answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    code = process.wait(timeout=10)
    os.close(primary)
    return code, seen.decode("utf-8", "replace")


def test_on_a_terminal_yes_forgets(rotated: RotatingProvider) -> None:
    code, shown = in_terminal(["forget", "p"], "y")
    assert code == 0, shown
    assert "p: the stored refresh token was rotated by the provider and is not revoked" in shown
    assert "stored token deleted" in shown and not stored()
    assert "rt-rotated-0001" not in shown


@pytest.mark.parametrize("answer", ["n", "", "EOF", "maybe"])
def test_on_a_terminal_anything_but_yes_keeps_it(rotated: RotatingProvider, answer: str) -> None:
    code, shown = in_terminal(["forget", "p"], answer)
    assert code == 0, shown
    assert "p: kept (not confirmed)" in shown and stored()
    assert run("token", "p", "--force").code == 0  # the grant still works


def test_a_real_rotating_server_keeps_the_grant(auth_server: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """django-oauth-toolkit rotates: after one refresh the profile's refresh token is dead, so
    a forget without --yes must leave the grant alive, and one with --yes shows why it asks."""
    client = auth_server.clients["basic"]
    path = write_profiles(tmp_path / "dot.yaml", {"p": {
        "token_url": auth_server.token_url, "retries": 0,
        "auth": {"type": "basic", "client_id": client.client_id, "client_secret": "${env:CSECRET}"},
        "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"},
        "refresh_token": "${env:RT}"}})  # fmt: skip
    refresh_token = auth_server.mint_refresh_token("basic")
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))
    monkeypatch.setenv("CSECRET", client.client_secret)
    monkeypatch.setenv("RT", refresh_token)
    assert run("refresh", "p").code == 0
    rotated_token = json.loads(state_file(state_dir()).read_text())["rotated_refresh_token"]
    refused = run("forget", "p")
    assert_clean_failure(refused, 2, "not forgetting 'p'",
                         secrets=(refresh_token, rotated_token, client.client_secret))  # fmt: skip
    assert run("token", "p", "--force").code == 0  # the stored grant is alive at the server
    assert run("forget", "p", "--yes").code == 0
    dead = run("token", "p")
    assert_clean_failure(dead, 4, "invalid_grant", secrets=(refresh_token, client.client_secret))


def test_forget_unknown_profile_is_still_exit_3(rotated: RotatingProvider) -> None:
    assert_clean_failure(run("forget", "nosuch"), 3, "nosuch")
    assert stored()
