"""`oauthcli validate`: JWT claims and signatures against a loopback JWKS, introspection against
a real authorization server, probes, stored tokens, and the exit codes 0 / 1 / 5.

The token under test must never appear in any output: validate shows it masked, at most.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import PLANTED, Result, run, run_script
from tests.server import LoopbackServer, Request, Response, RotatingProvider

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ISSUER = "https://issuer.example"
AUDIENCE = "api://oauthcli"
OPAQUE = "opaque-token-0123456789abcdef"


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def mint(key: Any = RSA_KEY, alg: str = "RS256", kid: str | None = "rsa-1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "nbf": now - 10,
               "exp": now + 600, **claims}  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def checks(result: Result) -> dict[str, str]:
    """name → result, from `-f json` output."""
    data = json.loads(result.stdout)
    return {c["name"]: c["result"] for c in data["checks"]}


def details(result: Result) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in json.loads(result.stdout)["checks"]}


def assert_hidden(result: Result, *tokens: str) -> None:
    for token in (PLANTED, *tokens):
        assert token not in result.stdout and token not in result.stderr, result


def assert_invalid(result: Result, failed: str, fragment: str, token: str) -> None:
    """Exit 1, the JSON verdict on stdout, one error line naming the failed check on stderr."""
    assert result.code == 1, result
    data = json.loads(result.stdout)
    assert data["valid"] is False
    assert checks(result)[failed] == "fail", result
    assert fragment in details(result)[failed], result
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: profile 'p': token not valid: "), result
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result
    assert_hidden(result, token)


def validate_json(token: str, *args: str) -> Result:
    return run("validate", "p", "--token", token, "-f", "json", *args)


@pytest.fixture
def jwks(server: LoopbackServer, profiles_file: Any) -> LoopbackServer:
    """A loopback JWKS with an RSA and an EC key; profile `p` checks iss, aud and signatures."""
    server.reply("/jwks", body={"keys": [public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1")]})
    validate = {"jwks_url": server.url("/jwks"), "issuer": ISSUER, "audience": AUDIENCE}
    profiles_file({"p": {"validate": validate}})
    return server


# --- JWTs -------------------------------------------------------------------------------------


def test_valid_rsa_jwt_passes_every_applicable_check(jwks: LoopbackServer) -> None:
    token = mint()
    result = validate_json(token)
    assert result.code == 0, result
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["profile"] == "p" and data["valid"] is True
    assert [c["name"] for c in data["checks"]] == [
        "present", "expiry", "jwt", "exp", "nbf", "iss", "aud", "signature", "introspection",
        "probe", "verification",
    ]  # fmt: skip
    assert checks(result) == {
        "present": "pass", "expiry": "pass", "jwt": "pass", "exp": "pass", "nbf": "pass",
        "iss": "pass", "aud": "pass", "signature": "pass", "introspection": "skipped",
        "probe": "skipped", "verification": "pass",
    }  # fmt: skip
    assert details(result)["verification"] == "verified by its signature"
    assert "verified with key 'rsa-1' (RS256)" in details(result)["signature"]
    assert "****" + token[-4:] in details(result)["present"]
    assert_hidden(result, token)


def test_valid_ec_jwt_as_a_table(jwks: LoopbackServer) -> None:
    token = mint(EC_KEY, "ES256", "ec-1")
    result = run("validate", "p", "--token", token)
    assert result.code == 0, result
    assert result.stderr == ""
    assert "p: valid" in result.stdout
    for column in ("check", "result", "detail"):
        assert column in result.stdout
    assert "verified with key 'ec-1' (ES256)" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: a plain table
    assert_hidden(result, token)


def test_jwt_without_kid_is_tried_against_every_key(jwks: LoopbackServer) -> None:
    result = validate_json(mint(EC_KEY, "ES256", kid=None))
    assert result.code == 0, result
    assert "verified with key 'ec-1'" in details(result)["signature"]


def test_expired_jwt(jwks: LoopbackServer) -> None:
    token = mint(exp=int(time.time()) - 120)
    result = validate_json(token)
    assert_invalid(result, "exp", "expired at", token)
    assert checks(result)["expiry"] == "fail"
    assert checks(result)["signature"] == "pass"
    assert "token not valid: expiry: expired at" in result.stderr  # the first failed check


def test_exp_within_leeway_passes_unless_leeway_is_zero(
    jwks: LoopbackServer, profiles_file: Any
) -> None:
    token = mint(exp=int(time.time()) - 5)
    assert checks(validate_json(token))["exp"] == "pass"
    validate = {"jwks_url": jwks.url("/jwks"), "leeway": 0}
    profiles_file({"p": {"validate": validate}})
    assert_invalid(validate_json(token), "exp", "leeway 0 s", token)


@pytest.mark.parametrize("exp", ["tomorrow", 1e300, -5, True])
def test_exp_that_is_not_a_numeric_date(jwks: LoopbackServer, exp: Any) -> None:
    token = mint(exp=exp)
    result = validate_json(token)
    assert_invalid(result, "exp", "exp is not a valid NumericDate", token)
    assert checks(result)["expiry"] == "skipped"


def test_not_yet_valid_jwt(jwks: LoopbackServer) -> None:
    token = mint(nbf=int(time.time()) + 300)
    result = validate_json(token)
    assert_invalid(result, "nbf", "not valid before", token)
    assert checks(result)["exp"] == "pass"


def test_wrong_issuer(jwks: LoopbackServer) -> None:
    token = mint(iss="https://evil.example")
    result = validate_json(token)
    assert_invalid(result, "iss", "expected 'https://issuer.example'", token)
    assert "iss: iss is 'https://evil.example'" in result.stderr


def test_wrong_audience(jwks: LoopbackServer) -> None:
    token = mint(aud=["other-api"])
    assert_invalid(validate_json(token), "aud", "expected 'api://oauthcli'", token)


def test_audience_list_matches_any(jwks: LoopbackServer, profiles_file: Any) -> None:
    validate = {"jwks_url": jwks.url("/jwks"), "audience": ["first", AUDIENCE]}
    profiles_file({"p": {"validate": validate}})
    result = validate_json(mint(aud=["x", AUDIENCE]))
    assert result.code == 0, result
    assert details(result)["aud"] == f"aud includes {AUDIENCE!r}"


def test_issuer_defaults_to_the_profiles_issuer(server: LoopbackServer, profiles_file: Any) -> None:
    issuer = server.url("/tenant")
    server.reply("/tenant/.well-known/openid-configuration",
                 body={"issuer": issuer, "token_endpoint": server.url("/token")})  # fmt: skip
    profiles_file({"p": {"issuer": issuer}})
    token = mint(iss=ISSUER)
    result = validate_json(token)
    assert_invalid(result, "iss", f"expected {issuer!r}", token)
    assert details(result)["signature"] == (
        "not configured: no validate.jwks_url, and the issuer's metadata has no jwks_uri"
    )


def test_signature_by_another_key(jwks: LoopbackServer) -> None:
    token = mint(OTHER_RSA_KEY, kid="rsa-1")
    result = validate_json(token)
    assert_invalid(result, "signature", "does not verify with key 'rsa-1'", token)
    assert checks(result)["iss"] == "pass"


def test_alg_none_fails(jwks: LoopbackServer) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}, None,
                       algorithm="none", headers={"kid": "rsa-1"})  # fmt: skip
    result = validate_json(token)
    assert_invalid(result, "jwt", "alg: none", token)
    assert checks(result)["signature"] == "fail"


def test_alg_none_fails_even_without_a_jwks(profiles_file: Any) -> None:
    profiles_file()
    token = b64({"alg": "none"}) + "." + b64({"exp": int(time.time()) + 600}) + "."
    result = validate_json(token)
    assert_invalid(result, "jwt", "unsigned JWT", token)
    assert checks(result)["signature"] == "fail"


def test_tampered_payload(jwks: LoopbackServer) -> None:
    header, _, signature = mint().split(".")
    now = int(time.time())
    forged = b64({"iss": ISSUER, "aud": AUDIENCE, "sub": "admin", "exp": now + 86400})
    token = f"{header}.{forged}.{signature}"
    result = validate_json(token)
    assert_invalid(result, "signature", "does not verify", token)
    assert checks(result)["exp"] == "pass"  # the claims look fine; only the signature tells


def test_hmac_signed_with_the_public_key_is_refused(jwks: LoopbackServer) -> None:
    """Algorithm confusion: HS256 'signed' with the RSA public key as the HMAC secret."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        b64({"alg": "HS256", "kid": "rsa-1"})
        + "."
        + b64({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600})
    )
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert_invalid(validate_json(token), "signature", "alg HS256 is symmetric", token)


def test_alg_not_matching_the_key_type(jwks: LoopbackServer) -> None:
    token = mint(EC_KEY, "ES256", kid="rsa-1")
    assert_invalid(validate_json(token), "signature", "does not match key 'rsa-1' of type RSA",
                   token)  # fmt: skip


def test_unknown_kid_refetches_the_cached_jwks_once(jwks: LoopbackServer) -> None:
    assert validate_json(mint()).code == 0
    assert len(jwks.hits("/jwks")) == 1
    assert validate_json(mint()).code == 0  # from the cache
    assert len(jwks.hits("/jwks")) == 1
    keys = [public_jwk(RSA_KEY, "rsa-1"), public_jwk(OTHER_RSA_KEY, "rsa-2")]
    jwks.reply("/jwks", body={"keys": keys})  # the provider rotated its keys
    rotated = validate_json(mint(OTHER_RSA_KEY, kid="rsa-2"))
    assert rotated.code == 0, rotated
    assert len(jwks.hits("/jwks")) == 2
    token = mint(kid="ghost")
    assert_invalid(validate_json(token), "signature", "no key with kid 'ghost'", token)
    assert len(jwks.hits("/jwks")) == 3  # one refetch, no more


def test_jwks_cache_is_a_0600_file_with_a_ttl(jwks: LoopbackServer, isolated: Path) -> None:
    assert validate_json(mint()).code == 0
    [cache] = (isolated / "state").glob(".jwks-*.json")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    data = json.loads(cache.read_text())
    data["fetched_at"] -= 3601
    cache.write_text(json.dumps(data))
    assert validate_json(mint()).code == 0
    assert len(jwks.hits("/jwks")) == 2


def test_jwks_endpoint_unreachable_is_exit_5(profiles_file: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/jwks"
    profiles_file({"p": {"validate": {"jwks_url": url}}})
    token = mint()
    result = validate_json(token)
    assert result.code == 5, result
    assert checks(result)["signature"] == "error"
    assert checks(result)["exp"] == "pass"
    assert json.loads(result.stdout)["valid"] is False
    [line] = result.stderr.splitlines()
    assert line.startswith("error: profile 'p': signature could not be checked: cannot connect")
    assert_hidden(result, token)


def test_a_failed_check_wins_over_a_network_error(profiles_file: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/jwks"
    profiles_file({"p": {"validate": {"jwks_url": url}}})
    token = mint(exp=int(time.time()) - 3600)
    assert_invalid(validate_json(token), "exp", "expired", token)


def test_jwks_that_is_not_a_key_set_is_exit_6(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/jwks", body={"hello": "world"})
    profiles_file({"p": {"validate": {"jwks_url": server.url("/jwks")}}})
    result = validate_json(mint())
    assert result.code == 6, result
    assert "not a JWK Set" in result.stderr


def test_plain_http_jwks_to_a_remote_host_is_refused_before_sending(profiles_file: Any) -> None:
    profiles_file({"p": {"validate": {"jwks_url": "http://keys.example.com/jwks"}}})
    result = validate_json(mint())
    assert result.code == 3, result
    assert result.stdout == ""
    assert "validate.jwks_url" in result.stderr and "refusing plain http://" in result.stderr


# --- opaque tokens, stdin, configuration ------------------------------------------------------


def test_opaque_token_fails_when_jwt_checks_are_configured(profiles_file: Any) -> None:
    """SPEC §13: with validate.issuer/audience/jwks_url a token that is not a JWT fails."""
    profiles_file({"p": {"validate": {"issuer": ISSUER, "audience": AUDIENCE}}})
    result = validate_json(OPAQUE)
    assert_invalid(result, "jwt", "but validate.issuer and validate.audience expect a JWT", OPAQUE)
    found = checks(result)
    assert found["present"] == "pass"
    for name in ("exp", "nbf", "iss", "aud", "signature"):
        assert found[name] == "skipped", name
        assert "not a JWT" in details(result)[name]
    assert details(result)["expiry"] == "no stored expiry for a token from --token"


def test_opaque_token_skips_the_jwt_checks_a_probe_verifies(
    server: LoopbackServer, profiles_file: Any
) -> None:
    server.reply("/api", status=200)
    profiles_file({"p": {"validate": {"probe": {"url": server.url("/api")}}}})
    result = validate_json(OPAQUE)
    assert result.code == 0, result
    assert result.stderr == ""
    found = checks(result)
    for name in ("jwt", "exp", "nbf", "iss", "aud", "signature"):
        assert found[name] == "skipped", name
        assert "not a JWT" in details(result)[name]
    assert found["verification"] == "pass"
    assert details(result)["verification"] == "verified by the probe"
    assert_hidden(result, OPAQUE)


def test_token_from_stdin(jwks: LoopbackServer) -> None:
    token = mint()
    result = run("validate", "p", "--token", "-", "-f", "json", stdin=token + "\n")
    assert result.code == 0, result
    assert "from stdin" in details(result)["present"]
    assert_hidden(result, token)


def test_empty_stdin_is_an_absent_token(profiles_file: Any) -> None:
    profiles_file()
    result = run("validate", "p", "--token", "-", "-f", "json", stdin="")
    assert result.code == 1, result
    assert checks(result)["present"] == "fail"
    assert set(checks(result).values()) == {"fail", "skipped"}


@pytest.mark.parametrize(
    ("validate", "field"),
    [
        ({"audience": 5}, "validate.audience"),
        ({"leeway": "soon"}, "validate.leeway"),
        ({"probe": {"url": "http://127.0.0.1/x", "expect_status": "ok"}},
         "validate.probe.expect_status"),
        ({"introspection_url": "${env:UNSET_INTROSPECTION_URL}"}, "validate.introspection_url"),
    ],
)  # fmt: skip
def test_bad_validate_settings_are_config_errors(
    profiles_file: Any, validate: dict[str, Any], field: str
) -> None:
    profiles_file({"p": {"validate": validate}})
    result = validate_json(OPAQUE)
    assert result.code == 3, result
    assert result.stdout == ""
    assert field in result.stderr.splitlines()[0]
    assert_hidden(result, OPAQUE)


def test_usage_errors(profiles_file: Any) -> None:
    profiles_file()
    assert run("validate", "p", "--token", OPAQUE, "--refresh").code == 2
    assert run("validate", "p", "--token", OPAQUE, "-f", "token").code == 2


# --- stored tokens ----------------------------------------------------------------------------


def test_no_stored_token_fails_without_refreshing(
    rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file()
    result = run("validate", "p")
    assert result.code == 1, result
    assert "p: NOT valid" in result.stdout
    message = "no stored token; run `oauthcli refresh p` or pass --refresh"
    assert message in result.stdout
    assert (
        result.stderr.splitlines()[0] == f"error: profile 'p': token not valid: present: {message}"
    )
    assert rotating.counter == 0


def test_stored_token_after_refresh(rotating: RotatingProvider, profiles_file: Any) -> None:
    profiles_file()
    assert run("refresh", "p").code == 0
    result = run("validate", "p", "-f", "json")
    assert result.code == 0, result
    assert result.stderr == ""
    assert details(result)["present"].startswith("stored token ****efgh, obtained ")
    assert checks(result)["expiry"] == "pass"
    assert checks(result)["jwt"] == "skipped"
    assert rotating.counter == 1
    assert_hidden(result, "at-0001-abcdefgh", "rt-rotated-0001")


def test_min_valid_fails_the_stored_expiry_without_refreshing(
    rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file()
    run("refresh", "p")
    result = run("validate", "p", "-f", "json", "--min-valid", "7200")
    assert_invalid(result, "expiry", "less than min_valid 7200 s", "at-0001-abcdefgh")
    assert "hint: `oauthcli token p` refreshes it" in result.stderr
    assert rotating.counter == 1


def test_profile_min_valid_applies(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/token", RotatingProvider(expires_in=30))
    profiles_file()
    run("refresh", "p")
    result = run("validate", "p", "-f", "json")
    assert_invalid(result, "expiry", "less than min_valid 60 s", "at-0001-abcdefgh")


def test_refresh_obtains_a_missing_token_once(
    rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file()
    result = run("validate", "p", "--refresh", "-f", "json")
    assert result.code == 0, result
    assert rotating.counter == 1
    assert run("validate", "p", "--refresh", "-f", "json").code == 0
    assert rotating.counter == 1  # still fresh: reused
    assert_hidden(result, "at-0001-abcdefgh")


# --- introspection and probe against a real authorization server -----------------------------


def dot_profile(auth_server: Any, profiles_file: Any, client: str = "basic",
                **validate: Any) -> None:  # fmt: skip
    c = auth_server.clients[client]
    spec: dict[str, Any] = {"token_url": auth_server.token_url, "validate": {
        "introspection_url": auth_server.introspection_url,
        "probe": {"url": auth_server.protected_url}, **validate}}  # fmt: skip
    if c.auth_method == "client_secret_basic":
        spec["auth"] = {"type": "basic", "client_id": c.client_id, "client_secret": c.client_secret}
    else:  # the secret comes from a reference, set by the test
        spec["body"] = {"grant_type": "password", "client_id": c.client_id,
                        "client_secret": "${env:DOT_POST_SECRET}"}  # fmt: skip
    profiles_file({"p": spec})


def test_introspection_and_probe_of_an_active_token(auth_server: Any, profiles_file: Any) -> None:
    dot_profile(auth_server, profiles_file)
    token = auth_server.mint_access_token()
    result = validate_json(token)
    assert result.code == 0, result
    assert result.stderr == ""
    found = details(result)
    assert found["introspection"].startswith("active at 127.0.0.1; client_id oauthcli-basic")
    assert "scope read write" in found["introspection"]
    assert found["probe"] == "GET 127.0.0.1/api/hello answered HTTP 200"
    assert checks(result)["jwt"] == "skipped"  # DOT's tokens are opaque
    assert_hidden(result, token, auth_server.clients["basic"].client_secret)


def test_revoked_token_fails_introspection_and_probe(auth_server: Any, profiles_file: Any) -> None:
    dot_profile(auth_server, profiles_file)
    token = auth_server.mint_access_token()
    assert auth_server.revoke(token, token_type_hint="access_token").status_code == 200
    result = validate_json(token)
    assert_invalid(result, "introspection", "127.0.0.1 says the token is not active", token)
    assert checks(result)["probe"] == "fail"
    assert "answered HTTP 401, expected 200" in details(result)["probe"]


def test_introspection_with_credentials_in_the_body(auth_server: Any, profiles_file: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("DOT_POST_SECRET", auth_server.clients["post"].client_secret)
    dot_profile(auth_server, profiles_file, client="post")
    token = auth_server.mint_access_token(client="post")
    result = validate_json(token)
    assert result.code == 0, result
    assert "client_id oauthcli-post" in details(result)["introspection"]
    assert_hidden(result, token, auth_server.clients["post"].client_secret)


def test_introspection_refused_for_a_wrong_client_secret(
    auth_server: Any, profiles_file: Any
) -> None:
    c = auth_server.clients["basic"]
    profiles_file({"p": {
        "token_url": auth_server.token_url,
        "auth": {"type": "basic", "client_id": c.client_id, "client_secret": PLANTED},
        "validate": {"introspection_url": auth_server.introspection_url}}})  # fmt: skip
    token = auth_server.mint_access_token()
    result = validate_json(token)
    assert result.code == 4, result
    assert checks(result)["introspection"] == "error"
    assert "introspection could not be checked" in result.stderr
    assert_hidden(result, token)


def test_introspection_endpoint_unreachable_is_exit_5(profiles_file: Any) -> None:
    url = f"http://127.0.0.1:{closed_port()}/introspect"
    profiles_file({"p": {"validate": {"introspection_url": url}}})
    result = validate_json(OPAQUE)
    assert result.code == 5, result
    assert checks(result)["introspection"] == "error"
    assert "cannot connect to 127.0.0.1" in result.stderr
    assert_hidden(result, OPAQUE)


# --- probe against a loopback resource --------------------------------------------------------


def bearer_resource(request: Request) -> Response:
    if request.headers.get("authorization") == f"Bearer {OPAQUE}":
        return Response(200, {"ok": True})
    return Response(401, {"error": "invalid_token"},
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip


def test_probe_sends_the_bearer_token(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/api", bearer_resource)
    profiles_file({"p": {"validate": {"probe": {"url": server.url("/api?x=1"),
                                                "headers": {"X-Probe": "yes"}}}}})  # fmt: skip
    result = validate_json(OPAQUE)
    assert result.code == 0, result
    assert server.hits("/api")[0].headers["x-probe"] == "yes"
    assert details(result)["probe"] == "GET 127.0.0.1/api answered HTTP 200"
    bad = validate_json("another-token-0123456789")
    assert_invalid(bad, "probe", 'answered HTTP 401, expected 200 (Bearer error="invalid_token")',
                   "another-token-0123456789")  # fmt: skip


def test_verbose_traces_never_show_the_token(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/api", bearer_resource)
    server.reply("/introspect", body={"active": True, "token": OPAQUE})
    validate = {
        "probe": {"url": server.url("/api")},
        "introspection_url": server.url("/introspect"),
    }
    profiles_file({"p": {"validate": validate}})
    result = run("-v", "validate", "p", "--token", OPAQUE, "-f", "json")
    assert result.code == 0, result
    assert "request:" in result.stderr and "Authorization: Bearer ****" in result.stderr
    assert server.hits("/introspect")[0].form["token"] == OPAQUE
    assert_hidden(result, OPAQUE)


def test_details_from_servers_are_not_rich_markup(
    server: LoopbackServer, profiles_file: Any
) -> None:
    server.reply("/api", status=403, headers={"WWW-Authenticate": "Bearer [bold]x[/bold]"})
    profiles_file({"p": {"validate": {"probe": {"url": server.url("/api")}}}})
    result = run("validate", "p", "--token", OPAQUE)
    assert result.code == 1, result
    assert "(Bearer [bold]x[/bold])" in result.stdout
    assert "[red]" not in result.stdout and "[/]" not in result.stdout


def test_probe_expect_status_and_method(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/api", bearer_resource)
    probe = {"url": server.url("/api"), "method": "post", "expect_status": 204}
    profiles_file({"p": {"validate": {"probe": probe}}})
    result = validate_json(OPAQUE)
    assert_invalid(result, "probe", "POST 127.0.0.1/api answered HTTP 200, expected 204", OPAQUE)
    assert server.hits("/api")[0].method == "POST"


def test_probe_server_error_is_exit_5(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/api", status=502, body="bad gateway")
    profiles_file({"p": {"validate": {"probe": {"url": server.url("/api")}}}})
    result = validate_json(OPAQUE)
    assert result.code == 5, result
    assert checks(result)["probe"] == "error"


# --- the console script -----------------------------------------------------------------------


@pytest.mark.slow
def test_console_script_contract(jwks: LoopbackServer) -> None:
    token = mint(exp=int(time.time()) - 600)
    result = run_script("validate", "p", "--token", "-", stdin=token)
    assert result.code == 1, result
    assert "p: NOT valid" in result.stdout and "expired at" in result.stdout
    assert result.stderr.startswith("error: profile 'p': token not valid: expiry: expired at")
    assert_hidden(result, token)
    good = run_script("validate", "p", "--token", "-", "-f", "json", stdin=mint())
    assert good.code == 0, good
    assert json.loads(good.stdout)["valid"] is True
    assert good.stderr == ""


def test_importing_the_cli_loads_neither_validation_nor_jwt() -> None:
    code = (
        "import sys, oauthcli.cli; print(sorted({'jwt', 'oauthcli.validate.checks'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
