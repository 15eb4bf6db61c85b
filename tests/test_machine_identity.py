"""Machine identity against a real assertion-checking server (tests/assertion_server, Authlib):
private_key_jwt for every request a profile makes, the jwt_bearer and Google service-account
grants, RFC 8693 token exchange, for every key type. The server verifies each signature with
real cryptography; these tests also read what oauthcli sent."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.assertion_server import (
    ALGORITHMS,
    ASSERTION_TYPE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_JWT,
    AssertionServer,
    FakeGitHubOIDC,
    KeyPair,
    RegisteredClient,
)
from tests.conftest import PLANTED, Result, run

GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
RSA = ("RS256", "PS256")  # generating an RSA key takes a test past 0.5 s: marked slow
EVERY_ALG = [pytest.param(a, marks=pytest.mark.slow) if a in RSA else a for a in ALGORITHMS]


# -- helpers (also used by the other test_machine_identity_* modules) ----------------------------
def write_config(tmp_path: Path, profiles: dict[str, Any]) -> str:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"profiles": profiles}, sort_keys=False))
    return str(path)


def key_ref(keypair: KeyPair) -> str:
    return f"${{file:{keypair.private_path}}}"


def pkjwt_profile(server: AssertionServer, client: RegisteredClient, **auth: Any) -> dict[str, Any]:
    """client_credentials with private_key_jwt, the key read through ${file:}."""
    return {
        "token_url": server.token_url,
        "auth": {
            "type": "private_key_jwt",
            "client_id": client.client_id,
            "key": key_ref(client.keypair),
            **auth,
        },
        "grant": {"type": "client_credentials", "scope": "read"},
        "retries": 0,
    }


def run_at(offset: float, *args: str) -> Result:
    """`run`, with the world's clock ``offset`` seconds away from the real one."""
    from oauthcli import cli
    from oauthcli.world import World

    out, err = io.StringIO(), io.StringIO()
    world = World(environ=dict(os.environ), stdin=io.StringIO(""), stdout=out, stderr=err,
                  clock=lambda: time.time() + offset)  # fmt: skip
    code = 0
    try:
        cli.main(list(args), world)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def key_lines(*pems: str) -> list[str]:
    """The base64 lines of PEM private keys: none may appear in any output."""
    return [line for pem in pems for line in pem.splitlines() if line and "-----" not in line]


def assert_no_leak(result: Result, *secrets: str) -> None:
    for secret in (PLANTED, *secrets):
        assert secret not in result.stdout, (secret[:12], result)
        assert secret not in result.stderr, (secret[:12], result)
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def json_token(result: Result) -> dict[str, Any]:
    assert result.code == 0, result
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def assert_lifetime(claims: dict[str, Any], at_most: int) -> None:
    now = time.time()
    assert abs(claims["iat"] - now) < 30
    assert 0 < claims["exp"] - claims["iat"] <= at_most
    assert claims["exp"] > now


# -- private_key_jwt -----------------------------------------------------------------------------
@pytest.mark.parametrize("alg", EVERY_ALG)
def test_private_key_jwt_client_credentials(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], alg: str,
) -> None:  # fmt: skip
    client = make_assertion_client(alg)
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client, alg=alg,
                                                          kid=client.keypair.kid)})  # fmt: skip
    first = json_token(run("-c", config, "refresh", "svc", "-f", "json"))
    assert first["scope"] == "read"
    issued = assertion_server.tokens[first["access_token"]]
    assert issued.client_id == client.client_id and issued.grant_type == "client_credentials"
    rec = assertion_server.last_request
    assert rec.notes["auth_method"] == "private_key_jwt"
    assert rec.form["client_assertion_type"] == ASSERTION_TYPE
    assert rec.form["client_id"] == client.client_id
    header, claims = rec.jwt()
    assert header["alg"] == alg and header["kid"] == client.keypair.kid
    assert claims["iss"] == claims["sub"] == client.client_id
    assert claims["aud"] == assertion_server.token_url
    assert_lifetime(claims, 300)
    json_token(run("-c", config, "refresh", "svc", "-f", "json"))
    second = assertion_server.last_request.jwt()[1]
    assert second["jti"] != claims["jti"] and len(second["jti"]) >= 16  # fresh per request


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_private_key_jwt_alg_defaults_from_the_key(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], alg: str,
) -> None:  # fmt: skip
    client = make_assertion_client(alg)
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client)})
    json_token(run("-c", config, "token", "svc", "-f", "json"))
    header = assertion_server.last_request.jwt()[0]
    assert header["alg"] == alg and "kid" not in header


def test_private_key_jwt_traditional_pem_and_configured_audience(
    tmp_path: Path, assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair]
) -> None:
    keypair = make_keypair("ES256", fmt="traditional")
    client = assertion_server.register_client(keypair, audience="https://issuer.example")
    profile = pkjwt_profile(assertion_server, client, audience="https://issuer.example")
    config = write_config(tmp_path, {"svc": profile})
    json_token(run("-c", config, "refresh", "svc", "-f", "json"))
    assert assertion_server.last_request.jwt()[1]["aud"] == "https://issuer.example"


@pytest.mark.slow  # an RSA key is generated, or a subprocess runs
def test_private_key_jwt_key_from_env_with_escaped_newlines(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A PEM pasted into a one-line CI variable arrives with literal \\n."""
    client = make_assertion_client("PS256")
    monkeypatch.setenv("SVC_KEY", client.keypair.private_pem.strip().replace("\n", "\\n"))
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client, alg="PS256",
                                                          key="${env:SVC_KEY}")})  # fmt: skip
    json_token(run("-c", config, "refresh", "svc", "-f", "json"))


@pytest.mark.parametrize("alg", EVERY_ALG)
def test_private_key_jwt_for_refresh_introspection_and_revocation(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], alg: str,
) -> None:  # fmt: skip
    """One client authentication for every request of the profile, each with its own assertion
    (aud = the endpoint it goes to)."""
    client = make_assertion_client(alg)
    seeded = assertion_server.issue_refresh_token(client, scope="read write")
    profile = pkjwt_profile(assertion_server, client, alg=alg)
    del profile["grant"]
    profile.update(
        refresh_token=seeded,
        revocation_url=assertion_server.revocation_url,
        validate={"introspection_url": assertion_server.introspection_url},
    )
    config = write_config(tmp_path, {"corp": profile})
    token = json_token(run("-c", config, "refresh", "corp", "-f", "json"))
    refresh = assertion_server.requests_to("/token")[-1]
    assert refresh.form["grant_type"] == "refresh_token" and refresh.form["refresh_token"] == seeded
    assert assertion_server.refresh_tokens[seeded].revoked  # rotated: the new one is stored

    checked = run("-c", config, "validate", "corp", "-f", "json")
    assert checked.code == 0, checked
    introspected = assertion_server.requests_to("/introspect")[-1]
    assert introspected.notes["client_id"] == client.client_id and introspected.status == 200
    assert introspected.jwt()[1]["aud"] == assertion_server.introspection_url

    forgotten = run("-c", config, "forget", "corp", "--revoke")
    assert forgotten.code == 0, forgotten
    revoked = assertion_server.requests_to("/revoke")[-1]
    assert revoked.status == 200 and revoked.notes["client_id"] == client.client_id
    assert revoked.jwt()[1]["aud"] == assertion_server.revocation_url
    jtis = {r.jwt()[1]["jti"] for r in (refresh, introspected, revoked)}
    assert len(jtis) == 3
    assert_no_leak(checked, token["access_token"], *key_lines(client.keypair.private_pem))


# -- jwt_bearer (RFC 7523 §2.1) ------------------------------------------------------------------
@pytest.mark.parametrize("alg", EVERY_ALG)
def test_jwt_bearer_grant(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], alg: str,
) -> None:  # fmt: skip
    client = make_assertion_client(alg, issuer=f"https://{alg.lower()}.issuer.example")
    profile = {
        "token_url": assertion_server.token_url,
        "grant": {"type": "jwt_bearer", "key": key_ref(client.keypair), "alg": alg,
                  "iss": client.issuer, "sub": "alice@example.com", "scope": "files.read",
                  "claims": {"tenant": "${env:TENANT:-acme}", "roles": ["a", "b"]}},
    }  # fmt: skip
    config = write_config(tmp_path, {"sf": profile})
    token = json_token(run("-c", config, "token", "sf", "-f", "json"))
    assert token["scope"] == "files.read"
    rec = assertion_server.last_request
    assert rec.form["grant_type"] == JWT_BEARER and rec.form["scope"] == "files.read"
    assert set(rec.form) == {"grant_type", "assertion", "scope"}
    assert rec.notes["subject"] == "alice@example.com"
    header, claims = rec.jwt("assertion")
    assert header["alg"] == alg
    assert claims["iss"] == client.issuer and claims["sub"] == "alice@example.com"
    assert claims["aud"] == assertion_server.token_url
    assert claims["tenant"] == "acme" and claims["roles"] == ["a", "b"] and claims["jti"]
    assert_lifetime(claims, 180)  # inside Salesforce's three minutes
    assert assertion_server.tokens[token["access_token"]].subject == "alice@example.com"


def test_jwt_bearer_without_sub_with_private_key_jwt_client_auth(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient],
) -> None:  # fmt: skip
    """The grant's assertion and the client's are separate JWTs, each with its own claims."""
    grant_client = make_assertion_client("ES256")
    profile = pkjwt_profile(assertion_server, make_assertion_client("EdDSA"))
    profile["grant"] = {"type": "jwt_bearer", "key": key_ref(grant_client.keypair),
                        "iss": grant_client.client_id, "aud": assertion_server.token_url}  # fmt: skip
    config = write_config(tmp_path, {"sf": profile})
    json_token(run("-c", config, "refresh", "sf", "-f", "json"))
    rec = assertion_server.last_request
    assert "sub" not in rec.jwt("assertion")[1]
    assert rec.jwt("client_assertion")[1]["sub"] == profile["auth"]["client_id"]


# -- Google service account ----------------------------------------------------------------------
@pytest.mark.slow  # an RSA key is generated, or a subprocess runs
@pytest.mark.parametrize("subject", [None, "user@example.com"])
def test_google_service_account(
    tmp_path: Path, assertion_server: AssertionServer, google_service_account: Any,
    subject: str | None,
) -> None:  # fmt: skip
    sa = google_service_account
    grant = {"type": "google_service_account", "key_file": str(sa.path), "scope": GOOGLE_SCOPE}
    if subject:
        grant["subject"] = subject
    config = write_config(tmp_path, {"gcp": {"grant": grant}})  # no token_url: the key's token_uri
    assert run("check", "-c", config).code == 0
    preview = run("-c", config, "refresh", "gcp", "--dry-run")
    assert preview.stdout.startswith(f"POST {sa.token_uri}\n"), preview
    assert '"scope": "https://www.googleapis.com/auth/cloud-platform"' in preview.stdout
    assert_no_leak(preview, *key_lines(sa.info["private_key"]))
    assert assertion_server.requests == []
    token = json_token(run("-c", config, "token", "gcp", "-f", "json"))
    assert token["access_token"].startswith("ya29.") and token["expires_in"] > 3500
    rec = assertion_server.last_request
    assert rec.path == "/google/token" and rec.notes["subject"] == subject
    assert set(rec.form) == {"grant_type", "assertion"} and rec.form["grant_type"] == JWT_BEARER
    header, claims = rec.jwt("assertion")
    assert header == {"alg": "RS256", "kid": sa.private_key_id, "typ": "JWT"}
    assert claims["iss"] == sa.client_email and claims["aud"] == sa.token_uri
    assert claims["scope"] == GOOGLE_SCOPE and claims.get("sub") == subject
    assert_lifetime(claims, 3600)
    cached = run("-c", config, "token", "gcp")
    assert cached.stdout.strip() == token["access_token"]
    assert len(assertion_server.requests_to("/google/token")) == 1


@pytest.mark.slow  # an RSA key is generated, or a subprocess runs
def test_google_service_account_key_json_from_env(
    tmp_path: Path, assertion_server: AssertionServer, google_service_account: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The key's JSON in a CI secret variable, instead of a file."""
    monkeypatch.setenv("GCP_SA_KEY", google_service_account.path.read_text())
    grant = {"type": "google_service_account", "key_file": "${env:GCP_SA_KEY}",
             "scope": GOOGLE_SCOPE}  # fmt: skip
    config = write_config(tmp_path, {"gcp": {"grant": grant}})
    result = run("-c", config, "-v", "refresh", "gcp")
    assert result.code == 0, result
    assert_no_leak(result, *key_lines(google_service_account.info["private_key"]))


# -- token exchange (RFC 8693) -------------------------------------------------------------------
def test_token_exchange_of_a_token_from_another_profile(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Every parameter of SPEC §12 (short token-type names expanded), the subject token being an
    access token of another profile (here through ${env:}), client auth by private_key_jwt."""
    client = make_assertion_client("ES256")
    base = pkjwt_profile(assertion_server, client)
    exchange = pkjwt_profile(assertion_server, client)
    exchange["grant"] = {
        "type": "token_exchange",
        "subject_token": "${env:SUBJECT}",
        "subject_token_type": "access_token",
        "audience": "https://api.example",
        "resource": ["https://api.example/v1"],
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "scope": "deploy",
    }
    config = write_config(tmp_path, {"base": base, "sts": exchange})
    subject = json_token(run("-c", config, "token", "base", "-f", "json"))["access_token"]
    monkeypatch.setenv("SUBJECT", subject)
    token = json_token(run("-c", config, "refresh", "sts", "-f", "json"))
    assert token["access_token"] != subject and token["scope"] == "deploy"
    rec = assertion_server.last_request
    assert rec.form == {
        "grant_type": TOKEN_EXCHANGE,
        "resource": "https://api.example/v1",
        "audience": "https://api.example",
        "scope": "deploy",
        "requested_token_type": TOKEN_TYPE_ACCESS,
        "subject_token": subject,
        "subject_token_type": TOKEN_TYPE_ACCESS,
        "client_id": client.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": rec.form["client_assertion"],
    }
    assert rec.notes["client_id"] == client.client_id


def test_token_exchange_with_actor_token_and_several_audiences_in_the_dry_run(
    tmp_path: Path, github_oidc: FakeGitHubOIDC
) -> None:
    """RFC 8693 lets audience and resource repeat; actor_token travels with its type."""
    subject = github_oidc.mint("https://sts.example")
    actor = github_oidc.mint("https://sts.example", sub="actor")
    grant = {"type": "token_exchange", "subject_token": subject, "subject_token_type": "jwt",
             "actor_token": actor, "actor_token_type": "id_token",
             "audience": ["https://a.example", "https://b.example"]}  # fmt: skip
    config = write_config(tmp_path, {"sts": {"token_url": "https://sts.example/token",
                                             "grant": grant}})  # fmt: skip
    result = run("-c", config, "refresh", "sts", "--dry-run")
    assert result.code == 0, result
    body = result.stdout.split("\n\n")[1].splitlines()[0]
    assert "audience=https%3A%2F%2Fa.example&audience=https%3A%2F%2Fb.example" in body
    assert f"subject_token_type={TOKEN_TYPE_JWT.replace(':', '%3A')}" in body
    assert "actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token" in body
    assert '"sub": "actor"' in result.stdout  # the actor token's claims, signature redacted
    assert_no_leak(result, subject, actor, subject.rsplit(".", 1)[1], actor.rsplit(".", 1)[1])
