"""The assertion test infrastructure proven without oauthcli: assertions built here with PyJWT,
sent with requests, checked by the server (tests/assertion_server) for real."""

from __future__ import annotations

import json
import stat
import time
import uuid
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from tests.assertion_server import (
    ALGORITHMS,
    ASSERTION_TYPE,
    ENTRA_AUDIENCE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_ID_TOKEN,
    TOKEN_TYPE_JWT,
    AssertionServer,
    FakeGitHubOIDC,
    KeyPair,
    RegisteredClient,
    generate_keypair,
)
from tests.assertion_server.plugin import (  # noqa: F401  (fixtures, by their name=)
    fixture_assertion_server,
    fixture_federated_client,
    fixture_github_actions_env,
    fixture_github_oidc,
    fixture_google_service_account,
    fixture_make_assertion_client,
    fixture_make_keypair,
)

GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


# -- helpers -------------------------------------------------------------------------------------
def sign(key: KeyPair, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers or None)


def client_claims(client_id: str, aud: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def post(url: str, **form: str) -> requests.Response:
    return requests.post(url, data=form, timeout=10)


def client_credentials(server: AssertionServer, assertion: str, **extra: str) -> requests.Response:
    return post(
        server.token_url,
        grant_type="client_credentials",
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=assertion,
        **extra,
    )


def jwt_bearer(url: str, assertion: str, **extra: str) -> requests.Response:
    return post(url, grant_type=JWT_BEARER, assertion=assertion, **extra)


def google_claims(sa: Any, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": sa.client_email,
        "aud": sa.token_uri,
        "scope": GOOGLE_SCOPE,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def assert_error(
    resp: requests.Response, error: str, status: int = 400, fragment: str = ""
) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error, body
    assert body.get("error_description"), body
    assert fragment in body["error_description"], body
    assert "access_token" not in body


def assert_token(resp: requests.Response, expires_in: int = 3600) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == expires_in
    assert len(body["access_token"]) >= 32
    return body


# -- keys ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_keypair_files(make_keypair: Any, alg: str) -> None:
    key = make_keypair(alg, "mine")
    assert key.private_path.name == "mine.key.pem" and key.public_path.name == "mine.pub.pem"
    assert stat.S_IMODE(key.private_path.stat().st_mode) == 0o600
    assert key.private_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    private = load_pem_private_key(key.private_path.read_bytes(), None)
    public = load_pem_public_key(key.public_path.read_bytes())
    assert private.public_key().public_bytes(*_spki()) == public.public_bytes(*_spki())
    assert key.public_jwk()["kid"] == key.kid and key.public_jwk()["alg"] == alg
    assert "d" not in key.public_jwk()


def _spki() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def test_traditional_pem(make_keypair: Any) -> None:
    assert make_keypair("RS256", fmt="traditional").private_pem.startswith(
        "-----BEGIN RSA PRIVATE KEY"
    )
    assert make_keypair("ES256", fmt="traditional").private_pem.startswith(
        "-----BEGIN EC PRIVATE KEY"
    )
    assert make_keypair("EdDSA", fmt="traditional").private_pem.startswith("-----BEGIN PRIVATE KEY")


# -- client_credentials + private_key_jwt --------------------------------------------------------
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_private_key_jwt_accepted(
    assertion_server: AssertionServer, make_assertion_client: Any, alg: str
) -> None:
    client = make_assertion_client(alg)
    assert client.client_id == f"{alg.lower()}-client"
    assertion = sign(
        client.keypair,
        client_claims(client.client_id, assertion_server.token_url),
        kid=client.keypair.kid,
    )
    body = assert_token(client_credentials(assertion_server, assertion, scope="read write"))
    assert body["scope"] == "read write"
    rec = assertion_server.last_request
    assert rec.path == "/token" and rec.method == "POST" and rec.status == 200
    assert rec.form == {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "read write",
    }
    assert rec.header("Content-Type") == "application/x-www-form-urlencoded"
    assert abs(rec.time - time.time()) < 5
    assert (
        rec.notes["client_id"] == client.client_id and rec.notes["auth_method"] == "private_key_jwt"
    )
    assert rec.jwt()[1]["iss"] == client.client_id and rec.jwt()[0]["alg"] == alg
    issued = assertion_server.tokens[body["access_token"]]
    assert issued.client_id == client.client_id and issued.grant_type == "client_credentials"


def test_tokens_random_and_expires_in_configurable(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256")
    assertion_server.expires_in = 120
    tokens = {
        assert_token(
            client_credentials(
                assertion_server,
                sign(client.keypair, client_claims(client.client_id, assertion_server.token_url)),
            ),
            expires_in=120,
        )["access_token"]
        for _ in range(3)
    }
    assert len(tokens) == 3


def test_private_key_jwt_client_id_in_form(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256")
    url = assertion_server.token_url
    assert_token(
        client_credentials(
            assertion_server,
            sign(client.keypair, client_claims(client.client_id, url)),
            client_id=client.client_id,
        )
    )
    other = make_assertion_client("ES256")
    resp = client_credentials(
        assertion_server,
        sign(client.keypair, client_claims(client.client_id, url)),
        client_id=other.client_id,
    )
    assert_error(resp, "invalid_client", fragment="does not match")


def test_private_key_jwt_configured_audience(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("EdDSA", audience="https://issuer.example")
    key = client.keypair
    assert_token(
        client_credentials(
            assertion_server, sign(key, client_claims(client.client_id, "https://issuer.example"))
        )
    )
    assert_token(
        client_credentials(
            assertion_server,
            sign(key, client_claims(client.client_id, ["x", assertion_server.token_url])),
        )
    )
    plain = make_assertion_client("EdDSA")
    resp = client_credentials(
        assertion_server,
        sign(plain.keypair, client_claims(plain.client_id, "https://issuer.example")),
    )
    assert_error(resp, "invalid_client", fragment="aud")


def _rejections(
    server: AssertionServer, client: RegisteredClient, case: str, aud: str, make_keypair: Any
) -> tuple[str, str | None]:
    """Build a bad assertion for ``case``; returns (assertion, replayed-first assertion)."""
    now = int(time.time())
    cid, key = client.client_id, client.keypair
    if case == "replayed_jti":
        return sign(key, client_claims(cid, aud, jti="same-jti")), sign(
            key, client_claims(cid, aud, jti="same-jti")
        )
    claims = {
        "expired": client_claims(cid, aud, iat=now - 400, exp=now - 100),
        "wrong_aud": client_claims(cid, aud + "/other"),
        "wrong_key": client_claims(cid, aud),
        "exp_too_far": client_claims(cid, aud, exp=now + 600),
    }[case]
    signer = make_keypair(client.keypair.alg) if case == "wrong_key" else key
    return sign(signer, claims), None


REJECTIONS = {  # case → fragment of error_description
    "replayed_jti": "used before",
    "expired": "expired",
    "wrong_aud": "aud",
    "wrong_key": "signature",
    "exp_too_far": "ahead",
}


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("case", REJECTIONS)
def test_private_key_jwt_rejected(
    assertion_server: AssertionServer,
    make_assertion_client: Any,
    make_keypair: Any,
    alg: str,
    case: str,
) -> None:
    client = make_assertion_client(alg)
    bad, first = _rejections(
        assertion_server, client, case, assertion_server.token_url, make_keypair
    )
    if first is not None:
        assert_token(client_credentials(assertion_server, first))
    assert_error(client_credentials(assertion_server, bad), "invalid_client", 400, REJECTIONS[case])


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("no_iat", "iat"),
        ("no_exp", "exp"),
        ("no_jti", "JWT ID"),
        ("iss_not_sub", "Issuer and Subject"),
        ("iat_future", "future"),
        ("unknown_client", "does not exist"),
        ("alg_not_registered", "not allowed"),
        ("kid_unknown", "kid"),
        ("alg_none", "not allowed"),
        ("hs256_with_public_key", "not allowed"),
        ("garbage", "Invalid JWT"),
    ],
)
def test_private_key_jwt_other_rejections(
    assertion_server: AssertionServer, make_assertion_client: Any, case: str, fragment: str
) -> None:
    client = make_assertion_client("PS256")
    cid, key, url = client.client_id, client.keypair, assertion_server.token_url
    now = int(time.time())
    if case == "alg_not_registered":  # same RSA key, RS256 instead of the registered PS256
        assertion = jwt.encode(client_claims(cid, url), key.private_key, algorithm="RS256")
    elif case == "alg_none":
        assertion = jwt.encode(client_claims(cid, url), None, algorithm="none")
    elif case == "hs256_with_public_key":  # the classic confusion: the public PEM as an HMAC secret
        import base64
        import hashlib
        import hmac

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        signing_input = (
            b64(b'{"alg":"HS256","typ":"JWT"}')
            + "."
            + b64(json.dumps(client_claims(cid, url)).encode())
        )
        mac = hmac.new(key.public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
        assertion = signing_input + "." + b64(mac)
    elif case == "garbage":
        assertion = "not.a.jwt"
    else:
        claims = {
            "no_iat": client_claims(cid, url, iat=None),
            "no_exp": client_claims(cid, url, exp=None),
            "no_jti": client_claims(cid, url, jti=None),
            "iss_not_sub": client_claims(cid, url, iss="someone-else"),
            "iat_future": client_claims(cid, url, iat=now + 120),
            "unknown_client": client_claims("nobody", url),
            "kid_unknown": client_claims(cid, url),
        }[case]
        assertion = sign(key, claims, **({"kid": "not-my-kid"} if case == "kid_unknown" else {}))
    assert_error(client_credentials(assertion_server, assertion), "invalid_client", 400, fragment)


def test_client_credentials_without_authentication(assertion_server: AssertionServer) -> None:
    assert_error(
        post(assertion_server.token_url, grant_type="client_credentials", client_id="x"),
        "invalid_client",
        400,
        "cannot authenticate",
    )


def test_client_scope_limit(assertion_server: AssertionServer, make_assertion_client: Any) -> None:
    client = make_assertion_client("ES256", scope="read")
    url = assertion_server.token_url
    assert_token(
        client_credentials(
            assertion_server,
            sign(client.keypair, client_claims(client.client_id, url)),
            scope="read",
        )
    )
    resp = client_credentials(
        assertion_server,
        sign(client.keypair, client_claims(client.client_id, url)),
        scope="read admin",
    )
    assert_error(resp, "invalid_scope", 400, "admin")


def test_max_lifetime_configurable(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256")
    assertion_server.max_assertion_lifetime = 60
    now = int(time.time())
    url = assertion_server.token_url
    resp = client_credentials(
        assertion_server, sign(client.keypair, client_claims(client.client_id, url, exp=now + 120))
    )
    assert_error(resp, "invalid_client", 400, "60 s")
    assert_token(
        client_credentials(
            assertion_server,
            sign(client.keypair, client_claims(client.client_id, url, exp=now + 60)),
        )
    )


def test_register_client_from_public_pem(
    assertion_server: AssertionServer, make_keypair: Any
) -> None:
    key = make_keypair("ES256")
    client = assertion_server.register_client(
        public_key=key.public_path.read_text(), algorithms=["ES256"], client_id="pem-client"
    )
    assert client.client_id == "pem-client"
    assert_token(
        client_credentials(
            assertion_server, sign(key, client_claims("pem-client", assertion_server.token_url))
        )
    )
    jwk_client = assertion_server.register_client(
        public_key=key.public_jwk(), algorithms=["ES256"], client_id="jwk-client"
    )
    assert_token(
        client_credentials(
            assertion_server,
            sign(key, client_claims(jwk_client.client_id, assertion_server.token_url)),
        )
    )


# -- jwt-bearer grant (RFC 7523 §2.1) --------------------------------------------------------------
def grant_claims(iss: str, aud: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": "alice@example.com",
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_jwt_bearer_accepted(
    assertion_server: AssertionServer, make_assertion_client: Any, alg: str
) -> None:
    client = make_assertion_client(alg, issuer=f"https://{alg.lower()}.issuer.example")
    assertion = sign(client.keypair, grant_claims(client.issuer, assertion_server.token_url))
    body = assert_token(jwt_bearer(assertion_server.token_url, assertion, scope="files.read"))
    assert body["scope"] == "files.read"
    rec = assertion_server.last_request
    assert rec.form["grant_type"] == JWT_BEARER and rec.form["assertion"] == assertion
    assert (
        rec.notes["client_id"] == client.client_id and rec.notes["subject"] == "alice@example.com"
    )
    issued = assertion_server.tokens[body["access_token"]]
    assert issued.subject == "alice@example.com" and issued.grant_type == JWT_BEARER


def test_jwt_bearer_without_sub_scope_or_jti(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256")
    body = assert_token(
        jwt_bearer(
            assertion_server.token_url,
            sign(
                client.keypair,
                grant_claims(client.client_id, assertion_server.token_url, sub=None, jti=None),
            ),
        )
    )
    assert "scope" not in body
    assertion_server.jwt_bearer_require_jti = True
    assert_error(
        jwt_bearer(
            assertion_server.token_url,
            sign(
                client.keypair, grant_claims(client.client_id, assertion_server.token_url, jti=None)
            ),
        ),
        "invalid_grant",
        400,
        "jti",
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("case", REJECTIONS)
def test_jwt_bearer_rejected(
    assertion_server: AssertionServer,
    make_assertion_client: Any,
    make_keypair: Any,
    alg: str,
    case: str,
) -> None:
    client = make_assertion_client(alg)
    url = assertion_server.token_url
    bad, first = _rejections(assertion_server, client, case, url, make_keypair)
    if first is not None:
        assert_token(jwt_bearer(url, first))
    assert_error(jwt_bearer(url, bad), "invalid_grant", 400, REJECTIONS[case])


def test_jwt_bearer_subject_limit_and_unknown_issuer(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256", subjects=["alice@example.com"])
    url = assertion_server.token_url
    assert_token(jwt_bearer(url, sign(client.keypair, grant_claims(client.client_id, url))))
    assert_error(
        jwt_bearer(url, sign(client.keypair, grant_claims(client.client_id, url, sub="mallory"))),
        "invalid_grant",
        400,
        "sub",
    )
    assert_error(
        jwt_bearer(url, sign(client.keypair, grant_claims("stranger", url))),
        "invalid_grant",
        400,
        "stranger",
    )
    assert_error(post(url, grant_type=JWT_BEARER), "invalid_request", 400, "assertion")


# -- Google service account ----------------------------------------------------------------------
def test_google_key_file(
    google_service_account: Any, assertion_server: AssertionServer, tmp_path: Any
) -> None:
    sa = google_service_account
    assert sa.path == tmp_path / "sa.json"
    info = json.loads(sa.path.read_text())
    assert info["type"] == "service_account"
    assert set(info) >= {
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "token_uri",
    }
    assert info["token_uri"] == assertion_server.google_token_url == sa.token_uri
    assert info["client_email"].endswith("@oauthcli-test.iam.gserviceaccount.com")
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert len(info["private_key_id"]) == 40 and info["client_id"].isdigit()
    load_pem_private_key(info["private_key"].encode(), None)


def _google_sign(sa: Any, claims: dict[str, Any], kid: Any = "default") -> str:
    private_key = load_pem_private_key(sa.info["private_key"].encode(), None)
    kid = sa.info["private_key_id"] if kid == "default" else kid
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid} if kid else None)


@pytest.mark.parametrize("subject", [None, "user@example.com"])
def test_google_accepted(
    assertion_server: AssertionServer, google_service_account: Any, subject: str | None
) -> None:
    sa = google_service_account
    resp = jwt_bearer(sa.token_uri, _google_sign(sa, google_claims(sa, sub=subject)))
    body = assert_token(resp, expires_in=3599)
    assert body["access_token"].startswith("ya29.") and set(body) == {
        "access_token",
        "expires_in",
        "token_type",
    }
    rec = assertion_server.last_request
    assert rec.path == "/google/token" and rec.notes["subject"] == subject
    assert assertion_server.tokens[body["access_token"]].scope == GOOGLE_SCOPE


@pytest.mark.parametrize(
    "case, error, fragment",
    [
        ("replayed_jti", "invalid_grant", "used before"),
        ("expired", "invalid_grant", "expired"),
        ("wrong_aud", "invalid_grant", "aud"),
        ("wrong_key", "invalid_grant", "signature"),
        ("exp_too_far", "invalid_grant", "short-lived"),
        ("exp_3601_after_iat", "invalid_grant", "short-lived"),
        ("no_scope", "invalid_scope", "scope"),
        ("no_iat", "invalid_grant", "iat"),
        ("wrong_kid", "invalid_grant", "private_key_id"),
        ("no_kid", "invalid_grant", "private_key_id"),
        ("token_endpoint_aud", "invalid_grant", "aud"),
        ("unknown_email", "invalid_grant", "No client"),
    ],
)
def test_google_rejected(
    assertion_server: AssertionServer,
    google_service_account: Any,
    tmp_path: Any,
    case: str,
    error: str,
    fragment: str,
) -> None:
    sa = google_service_account
    now = int(time.time())
    kid: Any = "default"
    if case == "replayed_jti":
        assert_token(jwt_bearer(sa.token_uri, _google_sign(sa, google_claims(sa, jti="j1"))), 3599)
        claims = google_claims(sa, jti="j1")
    elif case == "wrong_key":
        other = assertion_server.register_service_account(
            tmp_path / "other", client_email="x@y.iam.gserviceaccount.com"
        )
        claims = google_claims(sa)
        token = jwt.encode(
            claims, other.keypair.private_key, algorithm="RS256", headers={"kid": sa.private_key_id}
        )
        assert_error(jwt_bearer(sa.token_uri, token), error, 400, fragment)
        return
    else:
        claims = {
            "expired": google_claims(sa, iat=now - 4000, exp=now - 400),
            "wrong_aud": google_claims(sa, aud="https://oauth2.googleapis.com/token"),
            "exp_too_far": google_claims(sa, iat=now + 600 - 3600, exp=now + 3600 + 600),
            "exp_3601_after_iat": google_claims(sa, iat=now - 100, exp=now - 100 + 3601),
            "no_scope": google_claims(sa, scope=None),
            "no_iat": google_claims(sa, iat=None),
            "wrong_kid": google_claims(sa),
            "no_kid": google_claims(sa),
            "token_endpoint_aud": google_claims(sa, aud=assertion_server.token_url),
            "unknown_email": google_claims(sa, iss="nobody@x.iam.gserviceaccount.com"),
        }[case]
        kid = {"wrong_kid": "0" * 40, "no_kid": None}.get(case, "default")
    assert_error(jwt_bearer(sa.token_uri, _google_sign(sa, claims, kid)), error, 400, fragment)


def test_google_endpoint_ignores_token_clients(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("RS256")
    resp = jwt_bearer(
        assertion_server.google_token_url,
        sign(
            client.keypair,
            grant_claims(client.client_id, assertion_server.google_token_url, scope=GOOGLE_SCOPE),
        ),
    )
    assert_error(resp, "invalid_grant", 400, "No client")


# -- fake GitHub Actions OIDC --------------------------------------------------------------------
def test_github_id_token(github_oidc: FakeGitHubOIDC) -> None:
    env = github_oidc.env
    assert set(env) == {"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
    assert "?api-version=2.0" in env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    resp = requests.get(
        env["ACTIONS_ID_TOKEN_REQUEST_URL"] + "&audience=api://AzureADTokenExchange",
        headers={"Authorization": "bearer " + env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]},
        timeout=10,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 1 and set(body) == {"count", "value"}
    # verify like a relying party: discovery, JWKS, RS256 signature
    config = requests.get(
        github_oidc.issuer + "/.well-known/openid-configuration", timeout=10
    ).json()
    assert config["issuer"] == github_oidc.issuer
    signing_key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(body["value"])
    claims = jwt.decode(
        body["value"],
        signing_key.key,
        algorithms=["RS256"],
        audience=ENTRA_AUDIENCE,
        issuer=github_oidc.issuer,
    )
    assert jwt.get_unverified_header(body["value"])["alg"] == "RS256"
    assert claims["sub"] == "repo:octo/app:ref:refs/heads/main"
    assert claims["exp"] - claims["iat"] == 300 and claims["repository"] == "octo/app"
    rec = github_oidc.requests_to(github_oidc.idtoken_path)[0]
    assert rec.method == "GET" and rec.query == {"api-version": "2.0", "audience": ENTRA_AUDIENCE}
    assert rec.header("authorization") == "bearer " + github_oidc.request_token
    assert github_oidc.issued[-1].token == body["value"]


@pytest.mark.parametrize("auth", [None, "bearer wrong-token", "Basic abc", "bearer "])
def test_github_refuses_wrong_request_token(github_oidc: FakeGitHubOIDC, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    resp = requests.get(github_oidc.request_url + "&audience=x", headers=headers, timeout=10)
    assert resp.status_code == 401
    assert "value" not in resp.json()
    assert github_oidc.issued == [] and github_oidc.last_request.status == 401


def test_github_default_audience_and_env_fixture(github_actions_env: FakeGitHubOIDC) -> None:
    import os

    assert os.environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] == github_actions_env.request_token
    resp = requests.get(
        os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"],
        headers={"Authorization": "Bearer " + os.environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]},
        timeout=10,
    )
    claims = jwt.decode(resp.json()["value"], options={"verify_signature": False})
    assert claims["aud"] == "https://github.com/octo"


def test_github_subject_and_claims_configurable(github_oidc: FakeGitHubOIDC) -> None:
    github_oidc.subject = "repo:acme/api:environment:prod"
    github_oidc.extra_claims = {"environment": "prod"}
    claims = jwt.decode(
        github_oidc.mint("aud-1"),
        github_oidc.key.public_key,
        algorithms=["RS256"],
        audience="aud-1",
    )
    assert claims["sub"] == "repo:acme/api:environment:prod" and claims["environment"] == "prod"
    assert claims["repository"] == "acme/api"


# -- Entra-style federated client assertion ------------------------------------------------------
def _github_token(gh: FakeGitHubOIDC, audience: str) -> str:
    resp = requests.get(
        gh.request_url + "&audience=" + audience,
        headers={"Authorization": "bearer " + gh.request_token},
        timeout=10,
    )
    assert resp.status_code == 200
    return resp.json()["value"]


def federated(
    server: AssertionServer, assertion: str, client_id: str = "federated-client", **extra: str
) -> requests.Response:
    return post(
        server.token_url,
        grant_type="client_credentials",
        client_id=client_id,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=assertion,
        **extra,
    )


def test_federated_client_assertion_accepted(
    assertion_server: AssertionServer,
    github_oidc: FakeGitHubOIDC,
    federated_client: RegisteredClient,
) -> None:
    token = _github_token(github_oidc, ENTRA_AUDIENCE)
    body = assert_token(
        federated(assertion_server, token, scope="https://graph.microsoft.com/.default")
    )
    assert body["scope"] == "https://graph.microsoft.com/.default"
    rec = assertion_server.last_request
    assert rec.notes["client_id"] == "federated-client" and rec.notes["auth_method"] == "federated"
    assert rec.notes["assertion_claims"]["sub"] == github_oidc.subject
    # the JWKS was fetched from the issuer over HTTP (discovery, then jwks_uri)
    assert [r.path for r in github_oidc.requests][-2:] == [
        "/.well-known/openid-configuration",
        "/.well-known/jwks",
    ]
    # Entra lets a federated token be presented again while valid; the server can refuse that
    assert_token(federated(assertion_server, token))
    assertion_server.reject_reused_external_tokens = True
    fresh = _github_token(github_oidc, ENTRA_AUDIENCE)
    assert_token(federated(assertion_server, fresh))
    assert_error(federated(assertion_server, fresh), "invalid_client", 400, "used before")


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("wrong_aud", "aud"),
        ("wrong_sub", "sub"),
        ("expired", "expired"),
        ("wrong_key", "signature"),
        ("untrusted_issuer", "Untrusted"),
        ("unknown_client", "does not exist"),
        ("no_client_id", "does not exist"),
    ],
)
def test_federated_client_assertion_rejected(
    assertion_server: AssertionServer,
    github_oidc: FakeGitHubOIDC,
    federated_client: RegisteredClient,
    case: str,
    fragment: str,
) -> None:
    now = int(time.time())
    client_id = "federated-client"
    if case == "wrong_aud":
        token = _github_token(github_oidc, "api://Other")
    elif case == "wrong_sub":
        token = github_oidc.mint(ENTRA_AUDIENCE, sub="repo:evil/app:ref:refs/heads/main")
    elif case == "expired":
        token = github_oidc.mint(ENTRA_AUDIENCE, iat=now - 900, nbf=now - 900, exp=now - 600)
    elif case == "wrong_key":  # same claims, signed by a key the issuer's JWKS does not have
        impostor = FakeGitHubOIDC(key=generate_keypair("RS256", kid=github_oidc.key.kid))
        impostor.port = github_oidc.port
        token = impostor.mint(ENTRA_AUDIENCE)
    elif case == "untrusted_issuer":
        with FakeGitHubOIDC() as other:
            token = other.mint(ENTRA_AUDIENCE)
    else:
        token = github_oidc.mint(ENTRA_AUDIENCE)
        client_id = {"unknown_client": "nobody"}.get(case, "")
    if case == "no_client_id":
        resp = post(
            assertion_server.token_url,
            grant_type="client_credentials",
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=token,
        )
    else:
        resp = federated(assertion_server, token, client_id=client_id)
    assert_error(resp, "invalid_client", 400, fragment)


# -- token exchange (RFC 8693) -------------------------------------------------------------------
def exchange(
    server: AssertionServer,
    subject_token: str,
    subject_token_type: str = TOKEN_TYPE_JWT,
    **extra: str,
) -> requests.Response:
    return post(
        server.token_url,
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject_token,
        subject_token_type=subject_token_type,
        **extra,
    )


@pytest.mark.parametrize("token_type", [TOKEN_TYPE_JWT, TOKEN_TYPE_ID_TOKEN])
def test_token_exchange_accepted(
    assertion_server: AssertionServer, github_oidc: FakeGitHubOIDC, token_type: str
) -> None:
    subject_token = _github_token(github_oidc, assertion_server.issuer)
    resp = exchange(
        assertion_server,
        subject_token,
        token_type,
        audience="https://api.example",
        resource="https://api.example/v1",
        requested_token_type=TOKEN_TYPE_ACCESS,
        scope="deploy",
    )
    body = assert_token(resp)
    assert body["issued_token_type"] == TOKEN_TYPE_ACCESS and body["scope"] == "deploy"
    rec = assertion_server.last_request
    assert (
        rec.form["audience"] == "https://api.example"
        and rec.form["resource"] == "https://api.example/v1"
    )
    assert (
        rec.form["requested_token_type"] == TOKEN_TYPE_ACCESS
        and rec.form["subject_token"] == subject_token
    )
    assert rec.notes["subject"] == github_oidc.subject
    assert assertion_server.tokens[body["access_token"]].subject == github_oidc.subject


def test_token_exchange_audiences_and_chained(
    assertion_server: AssertionServer, github_oidc: FakeGitHubOIDC, make_assertion_client: Any
) -> None:
    assert_token(exchange(assertion_server, github_oidc.mint(assertion_server.token_url)))
    assertion_server.exchange_audiences.append("sts.example")
    first = assert_token(exchange(assertion_server, github_oidc.mint("sts.example")))
    # an access token of this server as the subject token
    second = assert_token(exchange(assertion_server, first["access_token"], TOKEN_TYPE_ACCESS))
    assert second["access_token"] != first["access_token"]
    # with client authentication
    client = make_assertion_client("ES256")
    assertion = sign(client.keypair, client_claims(client.client_id, assertion_server.token_url))
    assert_token(
        exchange(
            assertion_server,
            github_oidc.mint(assertion_server.issuer),
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=assertion,
        )
    )
    assert assertion_server.last_request.notes["client_id"] == client.client_id


@pytest.mark.parametrize(
    "case, error, fragment",
    [
        ("wrong_aud", "invalid_request", "aud"),
        ("expired", "invalid_request", "expired"),
        ("wrong_key", "invalid_request", "signature"),
        ("untrusted_issuer", "invalid_request", "Untrusted"),
        ("bad_type", "invalid_request", "subject_token_type"),
        ("no_type", "invalid_request", "subject_token_type"),
        ("bad_requested_type", "invalid_request", "requested_token_type"),
        ("unknown_target", "invalid_target", "nowhere"),
        ("not_a_jwt", "invalid_request", "Invalid JWT"),
        ("bad_client_assertion", "invalid_client", "does not exist"),
    ],
)
def test_token_exchange_rejected(
    assertion_server: AssertionServer,
    github_oidc: FakeGitHubOIDC,
    case: str,
    error: str,
    fragment: str,
) -> None:
    now = int(time.time())
    aud = assertion_server.issuer
    extra: dict[str, str] = {}
    token_type = TOKEN_TYPE_JWT
    token = github_oidc.mint(aud)
    if case == "wrong_aud":
        token = github_oidc.mint("https://elsewhere.example")
    elif case == "expired":
        token = github_oidc.mint(aud, iat=now - 900, nbf=now - 900, exp=now - 600)
    elif case == "wrong_key":
        impostor = FakeGitHubOIDC(key=generate_keypair("RS256", kid=github_oidc.key.kid))
        impostor.port = github_oidc.port
        token = impostor.mint(aud)
    elif case == "untrusted_issuer":
        impostor = FakeGitHubOIDC()
        impostor.port = 1
        token = impostor.mint(aud)
    elif case == "bad_type":
        token_type = "urn:ietf:params:oauth:token-type:saml2"
    elif case == "no_type":
        token_type = ""
    elif case == "bad_requested_type":
        extra = {"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"}
    elif case == "unknown_target":
        assertion_server.exchange_targets = {"https://api.example"}
        extra = {"audience": "https://nowhere.example"}
    elif case == "not_a_jwt":
        token = "opaque-token"
    elif case == "bad_client_assertion":
        extra = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": github_oidc.mint("x")}
    assert_error(exchange(assertion_server, token, token_type, **extra), error, 400, fragment)


# -- HTTP-level behaviour ------------------------------------------------------------------------
def test_request_hygiene(assertion_server: AssertionServer) -> None:
    url = assertion_server.token_url
    resp = requests.post(url, json={"grant_type": "client_credentials"}, timeout=10)
    assert_error(resp, "invalid_request", 400, "Content-Type")
    resp = requests.post(
        url, data=[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], timeout=10
    )
    assert_error(resp, "invalid_request", 400, "repeated parameter(s): scope")
    assert_error(post(url, grant_type="password"), "unsupported_grant_type", 400, "password")
    assert requests.get(url, timeout=10).status_code == 405
    assert requests.post(assertion_server.url("/nope"), timeout=10).status_code == 404
    assert [r.status for r in assertion_server.requests] == [400, 400, 400, 405, 404]
    assert assertion_server.requests[1].form_list[-2:] == [("scope", "a"), ("scope", "b")]


def test_queued_response_and_clear(assertion_server: AssertionServer) -> None:
    assertion_server.queue_response(
        "/token", 503, {"error": "temporarily_unavailable"}, {"Retry-After": "1"}
    )
    resp = post(assertion_server.token_url, grant_type="client_credentials")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert post(assertion_server.token_url, grant_type="client_credentials").status_code == 400
    assert len(assertion_server.requests_to("/token")) == 2
    assertion_server.clear_requests()
    assert assertion_server.requests == []


# -- refresh, revocation, introspection with private_key_jwt ---------------------------------------
def authed(
    server: AssertionServer, client: RegisteredClient, url: str, aud: str | None = None, **form: str
) -> requests.Response:
    assertion = sign(client.keypair, client_claims(client.client_id, aud or server.token_url))
    return post(url, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion, **form)


def test_refresh_with_private_key_jwt(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("ES256")
    rt = assertion_server.issue_refresh_token(client, scope="read write", subject="alice")
    body = assert_token(
        authed(
            assertion_server,
            client,
            assertion_server.token_url,
            grant_type="refresh_token",
            refresh_token=rt,
            scope="read",
        )
    )
    assert body["scope"] == "read" and body["refresh_token"] != rt
    assert assertion_server.last_request.notes["client_id"] == client.client_id
    # rotated: the old one is spent, the new one works
    old = authed(
        assertion_server,
        client,
        assertion_server.token_url,
        grant_type="refresh_token",
        refresh_token=rt,
    )
    assert_error(old, "invalid_grant", 400)
    assert_token(
        authed(
            assertion_server,
            client,
            assertion_server.token_url,
            grant_type="refresh_token",
            refresh_token=body["refresh_token"],
        )
    )
    # another client cannot redeem it; a bad assertion is refused before the token is looked at
    other = make_assertion_client("ES256")
    rt2 = assertion_server.issue_refresh_token(client)
    assert_error(
        authed(
            assertion_server,
            other,
            assertion_server.token_url,
            grant_type="refresh_token",
            refresh_token=rt2,
        ),
        "invalid_grant",
        400,
    )
    assert_error(
        authed(
            assertion_server,
            client,
            assertion_server.token_url,
            aud="https://wrong",
            grant_type="refresh_token",
            refresh_token=rt2,
        ),
        "invalid_client",
        400,
        "aud",
    )


def test_revoke_and_introspect_with_private_key_jwt(
    assertion_server: AssertionServer, make_assertion_client: Any
) -> None:
    client = make_assertion_client("EdDSA")
    token = assert_token(
        authed(
            assertion_server,
            client,
            assertion_server.token_url,
            grant_type="client_credentials",
            scope="read",
        )
    )["access_token"]
    intro = authed(assertion_server, client, assertion_server.introspection_url, token=token)
    assert intro.status_code == 200, intro.text
    assert intro.json()["active"] is True and intro.json()["client_id"] == client.client_id
    assert intro.json()["scope"] == "read"
    # aud may be the endpoint's own URL as well as the token endpoint's
    revoked = authed(
        assertion_server,
        client,
        assertion_server.revocation_url,
        aud=assertion_server.revocation_url,
        token=token,
        token_type_hint="access_token",
    )
    assert revoked.status_code == 200, revoked.text
    notes = assertion_server.last_request.notes
    assert notes["client_id"] == client.client_id and notes["revoked"] == "access_token"
    assert assertion_server.tokens[token].revoked
    assert authed(
        assertion_server, client, assertion_server.introspection_url, token=token
    ).json() == {"active": False}
    rt = assertion_server.issue_refresh_token(client)
    assert (
        authed(assertion_server, client, assertion_server.revocation_url, token=rt).status_code
        == 200
    )
    assert assertion_server.refresh_tokens[rt].revoked
    # without client authentication
    assert_error(post(assertion_server.revocation_url, token=rt), "invalid_client", 400)
    assert_error(
        authed(assertion_server, client, assertion_server.revocation_url), "invalid_request", 400
    )
