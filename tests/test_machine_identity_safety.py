"""Machine identity when things go wrong, and what never shows: assertions the server rejects
(replayed jti, expired, wrong aud, wrong key) reported with exit 4 and a hint; bad keys and
settings as configuration errors; no key, assertion or secret in any output (-v, --dry-run,
errors); PyJWT never loaded on the cached path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.assertion_server import AssertionServer, KeyPair, RegisteredClient
from tests.conftest import PLANTED, Result, assert_clean_failure, run
from tests.server import LoopbackServer, Request, Response
from tests.test_machine_identity import (
    GOOGLE_SCOPE,
    assert_no_leak,
    json_token,
    key_lines,
    key_ref,
    pkjwt_profile,
    run_at,
    write_config,
)

# case → (what the server says, the fragment of oauthcli's hint)
REJECTIONS = {
    "replayed_jti": "used before",
    "expired": "expired",
    "wrong_aud": "aud",
    "wrong_key": "signature",
}


def assert_failure(result: Result, code: int, *fragments: str) -> None:
    """assert_clean_failure, letting -v add its debug lines."""
    if "debug: " not in result.stderr:
        return assert_clean_failure(result, code, *fragments)
    assert result.code == code and result.stdout == "", result
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert all(fragment in error for fragment in fragments), result
    return None


def jwt_bearer_profile(server: AssertionServer, client: RegisteredClient) -> dict[str, Any]:
    grant = {"type": "jwt_bearer", "key": key_ref(client.keypair), "alg": client.keypair.alg,
             "iss": client.issuer, "sub": "alice@example.com"}  # fmt: skip
    return {"token_url": server.token_url, "grant": grant, "retries": 0}


def rejected(case: str, profile: dict[str, Any], where: str, tmp_path: Path,
             make_keypair: Callable[..., KeyPair], monkeypatch: pytest.MonkeyPatch) -> Result:  # fmt: skip
    """Run oauthcli so that the server has a reason to refuse its assertion (``where`` is the
    mapping holding the key: auth or grant)."""
    section = profile[where]
    if case == "wrong_key":  # a key of the right type that the server does not know
        section["key"] = key_ref(make_keypair(section.get("alg") or "ES256"))
    if case == "wrong_aud":
        section["audience" if where == "auth" else "aud"] = "https://somewhere.else/token"
    config = write_config(tmp_path, {"p": profile})
    if case == "replayed_jti":
        monkeypatch.setattr("oauthcli.wire.assertion.new_jti", lambda: "the-same-jti")
        assert run("-c", config, "refresh", "p").code == 0
    return run_at(-600 if case == "expired" else 0, "-c", config, "refresh", "p")


@pytest.mark.parametrize("case", REJECTIONS)
@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_private_key_jwt_rejections(
    tmp_path: Path, assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair],
    make_assertion_client: Callable[..., RegisteredClient], monkeypatch: pytest.MonkeyPatch,
    case: str, alg: str,
) -> None:  # fmt: skip
    client = make_assertion_client(alg)
    profile = pkjwt_profile(assertion_server, client, alg=alg)
    result = rejected(case, profile, "auth", tmp_path, make_keypair, monkeypatch)
    assert_clean_failure(result, 4, "refused the request: invalid_client", REJECTIONS[case])
    assert "hint: the signed client assertion was refused" in result.stderr
    assert_no_leak(result, *key_lines(client.keypair.private_pem),
                   assertion_server.last_request.form["client_assertion"])  # fmt: skip


@pytest.mark.parametrize("case", REJECTIONS)
def test_jwt_bearer_rejections(
    tmp_path: Path, assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair],
    make_assertion_client: Callable[..., RegisteredClient], monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:  # fmt: skip
    client = make_assertion_client("ES256", issuer="https://issuer.example")
    profile = jwt_bearer_profile(assertion_server, client)
    result = rejected(case, profile, "grant", tmp_path, make_keypair, monkeypatch)
    assert_clean_failure(result, 4, "refused the request: invalid_grant", REJECTIONS[case])
    assert "hint: the signed assertion was refused" in result.stderr
    assert "refresh token is dead" not in result.stderr
    assert_no_leak(result, assertion_server.last_request.form["assertion"])


@pytest.mark.slow  # an RSA key is generated, or a subprocess runs
@pytest.mark.parametrize("case", ["expired", "wrong_key", "unknown_account"])
def test_google_service_account_rejections(
    tmp_path: Path, assertion_server: AssertionServer, google_service_account: Any, case: str
) -> None:
    sa = google_service_account
    if case != "expired":  # the same account name signed by another key, or another account
        other = assertion_server.register_service_account(tmp_path / "other", name="other")
        info = json.loads(other.path.read_text())
        if case == "wrong_key":
            info.update(client_email=sa.client_email, private_key_id=sa.private_key_id)
        else:
            assertion_server.service_accounts.pop(other.client_email)
            assertion_server.clients.pop(f"google:{other.client_email}")
        sa.path.write_text(json.dumps(info))
    grant = {"type": "google_service_account", "key_file": str(sa.path), "scope": GOOGLE_SCOPE}
    config = write_config(tmp_path, {"gcp": {"grant": grant}})
    result = run_at(-4000 if case == "expired" else 0, "-c", config, "refresh", "gcp")
    fragment = {"expired": "expired", "wrong_key": "signature", "unknown_account": "No client"}
    assert_clean_failure(result, 4, "invalid_grant", fragment[case])
    assert "hint: the service-account assertion was refused" in result.stderr


def test_token_exchange_refusal_has_its_own_hint(
    tmp_path: Path, assertion_server: AssertionServer
) -> None:
    grant = {"type": "token_exchange", "subject_token": "opaque-not-a-jwt",
             "subject_token_type": "jwt"}  # fmt: skip
    config = write_config(tmp_path, {"sts": {"token_url": assertion_server.token_url,
                                             "grant": grant}})  # fmt: skip
    result = run("-c", config, "refresh", "sts")
    assert_clean_failure(result, 4, "invalid_request", "Invalid JWT", secrets=("opaque-not-a-jwt",))
    assert "hint: the token exchange was refused" in result.stderr


# -- nothing secret in any output ----------------------------------------------------------------
def test_dry_run_shows_the_claims_not_the_signature_nor_the_key(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient],
) -> None:  # fmt: skip
    client = make_assertion_client("ES256", issuer="https://issuer.example")
    profiles = {"svc": pkjwt_profile(assertion_server, client, kid="key-1"),
                "sf": jwt_bearer_profile(assertion_server, client)}  # fmt: skip
    config = write_config(tmp_path, profiles)
    for name, field in (("svc", "client_assertion"), ("sf", "assertion")):
        result = run("-c", config, "refresh", name, "--dry-run")
        assert result.code == 0, result
        assert f"{field}=<JWT, signature redacted: below>" in result.stdout
        lines = result.stdout.splitlines()
        header = json.loads(lines[lines.index(f"{field} (JWT, signature redacted):") + 1]
                            .removeprefix("  header "))  # fmt: skip
        claims = json.loads(lines[lines.index(f"{field} (JWT, signature redacted):") + 2]
                            .removeprefix("  claims "))  # fmt: skip
        assert header["alg"] == "ES256" and set(claims) >= {"iss", "aud", "jti", "iat", "exp"}
        assert claims["aud"] == assertion_server.token_url
        assert_no_leak(result, *key_lines(client.keypair.private_pem))
        assert "eyJ" not in result.stdout  # no part of the JWT as sent, the signature least of all
    assert assertion_server.requests == []


def test_verbose_and_errors_show_no_key_or_assertion(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient],
) -> None:  # fmt: skip
    client = make_assertion_client("EdDSA")
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client)})
    ok = run("-c", config, "-v", "refresh", "svc")
    assert ok.code == 0, ok
    sent = assertion_server.last_request.form["client_assertion"]
    assert "client_assertion (JWT, signature redacted)" in ok.stderr
    assert ok.stdout.strip() not in ok.stderr  # the access token: stdout only
    assert_no_leak(ok, sent, sent.rsplit(".", 1)[1], *key_lines(client.keypair.private_pem))


def test_a_server_echoing_the_assertion_shows_it_nowhere(
    tmp_path: Path, server: LoopbackServer, make_keypair: Callable[..., KeyPair]
) -> None:
    """An error description that quotes the assertion (and the key's lines) is redacted."""
    key = make_keypair("ES256")
    seen: list[str] = []

    def echo(request: Request) -> Response:
        seen.append(request.form["client_assertion"])
        return Response(400, {"error": "invalid_client",
                              "error_description": f"bad assertion {seen[-1]}"})  # fmt: skip

    server.route("/token", echo)
    profile = {"token_url": server.url("/token"), "grant": {"type": "client_credentials"},
               "auth": {"type": "private_key_jwt", "client_id": "c", "key": key_ref(key)},
               "retries": 0}  # fmt: skip
    config = write_config(tmp_path, {"svc": profile})
    for args in (("-v", "refresh", "svc"), ("token", "svc")):
        result = run("-c", config, *args)
        assert_failure(result, 4, "invalid_client: bad assertion ****")
        assert_no_leak(result, seen[-1], seen[-1].rsplit(".", 1)[1], *key_lines(key.private_pem))


@pytest.mark.parametrize(
    "key_text, fragment",
    [
        ("not a key at all " + PLANTED, "is not a PEM private key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA" + PLANTED + "\n-----END PRIVATE KEY-----",
         "is not a usable PEM private key"),
        ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB" + PLANTED + "\n"
         "-----END ENCRYPTED PRIVATE KEY-----", "is an encrypted private key"),
        ("-----BEGIN PUBLIC KEY-----\nMIIB" + PLANTED + "\n-----END PUBLIC KEY-----",
         "is not a PEM private key"),
    ],
)  # fmt: skip
def test_unusable_keys_are_config_errors_that_show_no_key(
    tmp_path: Path, assertion_server: AssertionServer, key_text: str, fragment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SVC_KEY", key_text)
    profile = {"token_url": assertion_server.token_url, "grant": {"type": "client_credentials"},
               "auth": {"type": "private_key_jwt", "client_id": "c", "key": "${env:SVC_KEY}"}}  # fmt: skip
    config = write_config(tmp_path, {"svc": profile})
    for args in (("refresh", "svc"), ("refresh", "svc", "--dry-run"), ("-v", "token", "svc")):
        result = run("-c", config, *args)
        assert_failure(result, 3, "'svc'", "auth.key", fragment)
        assert_no_leak(result, *key_text.splitlines()[1:2])
    assert assertion_server.requests == []


def test_alg_that_does_not_fit_the_key(
    tmp_path: Path, assertion_server: AssertionServer, make_keypair: Callable[..., KeyPair]
) -> None:
    key = make_keypair("ES256")
    grant = {"type": "jwt_bearer", "key": key_ref(key), "iss": "me", "alg": "RS256"}
    config = write_config(tmp_path, {"sf": {"token_url": assertion_server.token_url,
                                            "grant": grant}})  # fmt: skip
    result = run("-c", config, "refresh", "sf")
    assert_clean_failure(result, 3, "alg RS256 does not fit the key in grant.key",
                         "EC secp256r1", secrets=tuple(key_lines(key.private_pem)))  # fmt: skip


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"type": "external_account", "audience": "x"}', "'external_account' credential"),
        ('{"type": "service_account", "client_email": "a@b"}', "has no private_key"),
        ("private_key = " + PLANTED, "is not valid JSON (line 1)"),
        ("[1, 2]", "is not a JSON object"),
    ],
)
def test_bad_service_account_key_files(tmp_path: Path, content: str, fragment: str) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(content)
    grant = {"type": "google_service_account", "key_file": str(key_file), "scope": GOOGLE_SCOPE}
    config = write_config(tmp_path, {"gcp": {"grant": grant}})
    assert_clean_failure(run("-c", config, "refresh", "gcp"), 3, "grant.key_file", fragment)


def test_service_account_key_file_must_be_a_small_regular_file(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    big.write_text("{" + " " * 70000 + "}")
    for path, fragment in ((fifo, "is not a regular file"), (big, "larger than 64 KiB"),
                           (tmp_path / "none.json", "cannot be read")):  # fmt: skip
        grant = {"type": "google_service_account", "key_file": str(path), "scope": "s"}
        config = write_config(tmp_path, {"gcp": {"grant": grant}})
        assert_clean_failure(run("-c", config, "refresh", "gcp"), 3, fragment)


@pytest.mark.parametrize(
    "grant, fragment",
    [
        ({"type": "jwt_bearer", "key": "k"}, "grant.iss is required for grant type jwt_bearer"),
        ({"type": "token_exchange", "subject_token": "t"}, "grant.subject_token_type is required"),
        ({"type": "token_exchange", "subject_token": "t", "subject_token_type": "jwt",
          "actor_token_type": "jwt"}, "grant.actor_token_type without grant.actor_token"),
        ({"type": "jwt_bearer", "key": "k", "iss": "i", "alg": "HS256"}, "grant.alg: expected RS256"),
        ({"type": "jwt_bearer", "key": "k", "iss": "i", "claims": "x"}, "grant.claims: expected mapping"),
        ({"type": "token_exchange", "subject_token": "t", "subject_token_type": "jwt",
          "audience": [1]}, "grant.audience: expected string or list of strings"),
        ({"type": "google_service_account", "scope": "s"}, "grant.key_file is required"),
        ({"type": "jwt_bearer", "key": "k", "iss": "i", "subject": "s"}, "unknown key grant.subject"),
    ],
)  # fmt: skip
def test_schema_of_the_machine_grants(tmp_path: Path, grant: dict[str, Any], fragment: str) -> None:
    config = write_config(tmp_path, {"m": {"token_url": "https://id.example/token",
                                           "grant": grant}})  # fmt: skip
    assert_clean_failure(run("-c", config, "refresh", "m"), 3, fragment)


def test_auth_schema(tmp_path: Path) -> None:
    profile = {"token_url": "https://id.example/token",
               "auth": {"type": "private_key_jwt", "client_id": "c", "key": "k", "alg": "none"}}  # fmt: skip
    config = write_config(tmp_path, {"m": profile})
    assert_clean_failure(run("-c", config, "token", "m"), 3, "auth.alg: expected RS256")
    del profile["auth"]["key"]  # type: ignore[attr-defined]
    config = write_config(tmp_path, {"m": profile})
    assert_clean_failure(run("-c", config, "token", "m"), 3, "auth.key")


def test_check_warns_of_literal_keys_and_unreadable_key_files(tmp_path: Path) -> None:
    profiles = {
        "literal": {"token_url": "https://id.example/token", "grant": {"type": "client_credentials"},
                    "auth": {"type": "private_key_jwt", "client_id": "c",
                             "key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"}},
        "gcp": {"grant": {"type": "google_service_account", "key_file": "~/missing-sa.json",
                          "scope": GOOGLE_SCOPE}},
    }  # fmt: skip
    result = run("check", "-c", write_config(tmp_path, profiles))
    assert result.code == 0, result
    assert "warning: literal: field auth.key: a private key is written into the profiles file" \
        in result.stdout  # fmt: skip
    assert "warning: gcp: field grant.key_file: file ~/missing-sa.json is not readable" \
        in result.stdout  # fmt: skip


def test_example_profiles_pass_check() -> None:
    example = Path(__file__).resolve().parent.parent / "profiles.example.yaml"
    result = run("check", "-c", str(example))
    assert result.code == 0, result
    assert ", 0 errors," in result.stdout


# -- import hygiene ------------------------------------------------------------------------------
@pytest.mark.slow
def test_cached_token_of_a_private_key_jwt_profile_loads_no_jwt_code(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient],
) -> None:  # fmt: skip
    client = make_assertion_client("ES256")
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client)})
    token = json_token(run("-c", config, "refresh", "svc", "-f", "json"))["access_token"]
    heavy = ("jwt", "cryptography", "requests", "oauthcli.wire.assertion")
    code = (
        "import sys; from oauthcli.entry import main; main(['-c', sys.argv[1], 'token', 'svc']); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, config], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.stdout.strip() == token, done
    assert done.stderr.strip().splitlines()[-1] == "[]", done
    assert len(assertion_server.requests_to("/token")) == 1


def test_assertions_are_short_lived_and_fresh(
    tmp_path: Path, assertion_server: AssertionServer,
    make_assertion_client: Callable[..., RegisteredClient],
) -> None:  # fmt: skip
    """exp at most five minutes ahead, even with a server strict about it."""
    assertion_server.max_assertion_lifetime = 180
    assertion_server.leeway = 0
    client = make_assertion_client("ES256")
    config = write_config(tmp_path, {"svc": pkjwt_profile(assertion_server, client)})
    for _ in range(3):
        assert run("-c", config, "refresh", "svc").code == 0
    claims = [r.jwt()[1] for r in assertion_server.requests_to("/token")]
    assert len({c["jti"] for c in claims}) == 3
    assert all(c["exp"] - time.time() <= 300 for c in claims)
