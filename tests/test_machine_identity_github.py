"""``${github_oidc:AUDIENCE}`` against the fake GitHub Actions ID-token endpoint (tests/
assertion_server/github.py), which checks the request token and the audience: the issued JWT
as a client assertion (the Entra shape) and as a token-exchange subject token (the Google STS
shape); one fetch per audience and run; outside Actions a configuration error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oauthcli.errors import BadResponseError, ConfigError, ProviderError, TransientError
from oauthcli.redact import Secrets
from oauthcli.wire.github_oidc import GitHubIdTokens
from tests.assertion_server import (
    ASSERTION_TYPE,
    ENTRA_AUDIENCE,
    TOKEN_EXCHANGE,
    TOKEN_TYPE_JWT,
    AssertionServer,
    FakeGitHubOIDC,
    RegisteredClient,
)
from tests.conftest import assert_clean_failure, run, run_script
from tests.test_machine_identity import assert_no_leak, json_token, write_config

VARIABLES = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


def entra_profile(server: AssertionServer, audience: str = ENTRA_AUDIENCE) -> dict[str, Any]:
    return {
        "token_url": server.token_url,
        "auth": {"type": "client_assertion", "client_id": "federated-client",
                 "assertion": f"${{github_oidc:{audience}}}"},  # fmt: skip
        "grant": {"type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        "retries": 0,
    }


def sts_profile(server: AssertionServer, audience: str | None = None) -> dict[str, Any]:
    return {
        "token_url": server.token_url,
        "grant": {
            "type": "token_exchange",
            "subject_token": f"${{github_oidc:{audience or server.issuer}}}",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": "https://api.example",
            "scope": "deploy",
        },
        "retries": 0,
    }


def id_token_requests(github: FakeGitHubOIDC) -> list[Any]:
    return github.requests_to(github.idtoken_path)


@pytest.fixture
def outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


# -- the two shapes ------------------------------------------------------------------------------
def test_github_token_as_client_assertion(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
    federated_client: RegisteredClient,
) -> None:  # fmt: skip
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    token = json_token(run("-c", config, "refresh", "entra", "-f", "json"))
    assert token["scope"] == "https://graph.microsoft.com/.default"
    (fetch,) = id_token_requests(github_actions_env)
    assert fetch.query["audience"] == ENTRA_AUDIENCE and fetch.query["api-version"] == "2.0"
    assert fetch.header("authorization") == "bearer " + github_actions_env.request_token
    rec = assertion_server.last_request
    assert rec.notes["auth_method"] == "federated" and rec.notes["client_id"] == "federated-client"
    assert rec.form["client_id"] == "federated-client"
    assert rec.form["client_assertion_type"] == ASSERTION_TYPE
    assert rec.form["client_assertion"] == github_actions_env.issued[-1].token


def test_github_token_as_subject_token(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC
) -> None:
    config = write_config(tmp_path, {"sts": sts_profile(assertion_server)})
    token = json_token(run("-c", config, "token", "sts", "-f", "json"))
    rec = assertion_server.last_request
    assert rec.form["grant_type"] == TOKEN_EXCHANGE
    assert rec.form["subject_token"] == github_actions_env.issued[-1].token
    assert rec.form["subject_token_type"] == TOKEN_TYPE_JWT
    assert rec.notes["subject"] == github_actions_env.subject
    assert assertion_server.tokens[token["access_token"]].subject == github_actions_env.subject
    assert id_token_requests(github_actions_env)[0].query["audience"] == assertion_server.issuer


def test_one_fetch_per_audience_per_run_and_nothing_stored(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
    federated_client: RegisteredClient,
) -> None:  # fmt: skip
    profiles = {"a": entra_profile(assertion_server), "b": entra_profile(assertion_server),
                "sts": sts_profile(assertion_server)}  # fmt: skip
    config = write_config(tmp_path, profiles)
    result = run("-c", config, "refresh", "a", "b", "sts", "-f", "json")
    assert result.code == 0, result
    audiences = sorted(r.query["audience"] for r in id_token_requests(github_actions_env))
    assert audiences == sorted([ENTRA_AUDIENCE, assertion_server.issuer])
    assert len(assertion_server.requests_to("/token")) == 3
    stored = "".join(p.read_text() for p in (tmp_path / "state").rglob("*") if p.is_file())
    for issued in github_actions_env.issued:  # in memory only, never written
        assert issued.token not in stored and issued.token.rsplit(".", 1)[1] not in stored
    assert run("-c", config, "refresh", "a").code == 0  # a new run fetches anew
    assert len(id_token_requests(github_actions_env)) == 3


def test_cached_only_while_it_has_time_left(github_oidc: FakeGitHubOIDC) -> None:
    now = [1000.0]
    github_oidc.lifetime = 300
    tokens = GitHubIdTokens(github_oidc.env, Secrets(), clock=lambda: now[0])
    first = tokens("p", "aud-1", "auth.assertion")
    now[0] = github_oidc.issued[-1].claims["exp"] - 61  # still more than a minute left
    assert tokens("p", "aud-1", "auth.assertion") == first
    now[0] += 2
    second = tokens("p", "aud-1", "auth.assertion")
    assert second != first and len(id_token_requests(github_oidc)) == 2
    assert second in tokens.secrets


# -- outside GitHub Actions, and a failing endpoint ------------------------------------------------
@pytest.mark.slow  # an RSA key is generated, or a subprocess runs
def test_outside_actions_is_a_config_error_naming_the_variables(
    tmp_path: Path, assertion_server: AssertionServer, outside_actions: None
) -> None:
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run_script("-c", config, "token", "entra")
    assert_clean_failure(result, 3, "entra", "auth.assertion", *VARIABLES)
    assert "hint: " in result.stderr and "${env:" in result.stderr
    assert assertion_server.requests == []


def test_in_actions_without_id_token_permission(
    tmp_path: Path, assertion_server: AssertionServer, outside_actions: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    config = write_config(tmp_path, {"sts": sts_profile(assertion_server)})
    result = run("-c", config, "refresh", "sts")
    assert_clean_failure(result, 3, "grant.subject_token", *VARIABLES)
    assert "hint: add `permissions: id-token: write` to the job" in result.stderr


@pytest.mark.parametrize(
    "status, body, headers, code, fragment",
    [
        (401, {"message": "Bad credentials"}, {}, 4, "HTTP 401 (Bad credentials)"),
        (403, {"message": "no\x1b[2J\rerror: fake"}, {}, 4, "(no\\x1b[2J\\rerror: fake)"),
        (500, {"message": "oops"}, {}, 5, "HTTP 500"),
        (302, b"", {"Location": "https://elsewhere.example/"}, 6, "elsewhere.example"),
        (200, {"count": 0}, {}, 6, "without a token"),
        (200, "<html>", {"Content-Type": "text/html"}, 6, "without a token"),
    ],
)
def test_endpoint_failures(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
    status: int, body: Any, headers: dict[str, str], code: int, fragment: str,
) -> None:  # fmt: skip
    github_actions_env.queue_response(github_actions_env.idtoken_path, status, body, headers)
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "refresh", "entra")
    assert_clean_failure(result, code, fragment, secrets=(github_actions_env.request_token,))
    assert assertion_server.requests == []  # nothing reaches the token endpoint


def test_wrong_request_token_is_refused_by_github(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghs_wrong_request_token_1234")
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "-v", "refresh", "entra")
    assert result.code == 4, result
    assert "refused the request for audience api://AzureADTokenExchange" in result.stderr
    assert "hint: the job needs `permissions: id-token: write`" in result.stderr
    assert "ghs_wrong_request_token_1234" not in result.stderr
    assert id_token_requests(github_actions_env)[0].notes["rejected"] == "bad request token"


def test_plain_http_request_url_is_refused_before_sending(
    tmp_path: Path, assertion_server: AssertionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", "http://runner.example/idtoken?v=2")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghs_request_token_5678")
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "refresh", "entra")
    assert_clean_failure(result, 3, "ACTIONS_ID_TOKEN_REQUEST_URL", "https://",
                         secrets=("ghs_request_token_5678",))  # fmt: skip


def test_errors_are_the_documented_classes(github_oidc: FakeGitHubOIDC) -> None:
    """The same failures through the Python seam: each error class carries its exit code; a 503
    is retried (SPEC §7) before it counts."""
    path = github_oidc.idtoken_path
    tokens = GitHubIdTokens(github_oidc.env, Secrets(), sleep=lambda seconds: None)
    github_oidc.queue_response(path, 403, {"message": "no"})
    with pytest.raises(ProviderError):
        tokens("p", "a", "f")
    github_oidc.queue_response(path, 503, {})
    github_oidc.queue_response(path, 200, {"value": ""})
    with pytest.raises(BadResponseError):
        tokens("p", "a", "f")
    for _ in range(3):
        github_oidc.queue_response(path, 503, {})
    with pytest.raises(TransientError):
        tokens("p", "a", "f")
    assert len(id_token_requests(github_oidc)) == 6
    with pytest.raises(ConfigError):
        GitHubIdTokens({}, Secrets())("p", "a", "f")


# -- dry run, -v, check --------------------------------------------------------------------------
def test_dry_run_fetches_no_id_token(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC
) -> None:
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server),
                                     "sts": sts_profile(assertion_server)})  # fmt: skip
    result = run("-c", config, "refresh", "entra", "sts", "--dry-run")
    assert result.code == 0, result
    assert f"client_assertion=${{github_oidc:{ENTRA_AUDIENCE}}} (resolved when sent)" in result.stdout
    assert "subject_token=${github_oidc:" in result.stdout
    assert id_token_requests(github_actions_env) == [] and assertion_server.requests == []
    assert_no_leak(result, github_actions_env.request_token)


def test_verbose_shows_claims_never_the_tokens(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
    federated_client: RegisteredClient,
) -> None:  # fmt: skip
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "-v", "refresh", "entra")
    assert result.code == 0, result
    id_token = github_actions_env.issued[-1].token
    access_token = result.stdout.strip()
    assert f'"sub": "{github_actions_env.subject}"' in result.stderr  # the claims, for debugging
    assert "client_assertion (JWT, signature redacted)" in result.stderr
    assert access_token not in result.stderr
    assert_no_leak(result, id_token, id_token.rsplit(".", 1)[1], github_actions_env.request_token)


def test_check_understands_the_reference_without_fetching(
    tmp_path: Path, assertion_server: AssertionServer, github_oidc: FakeGitHubOIDC,
    outside_actions: None, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("check", "-c", config)
    assert result.code == 0, result
    assert "warning: entra: field auth.assertion: ${github_oidc:…} resolves only in a GitHub " \
        "Actions job" in result.stdout  # fmt: skip
    assert all(name in result.stdout for name in VARIABLES)
    assert run("check", "--strict", "-c", config).code == 1
    for name, value in github_oidc.env.items():
        monkeypatch.setenv(name, value)
    clean = run("check", "-c", config)
    assert clean.code == 0 and "0 errors, 0 warnings" in clean.stdout, clean
    assert github_oidc.requests == []
    bad = write_config(tmp_path, {"x": {**entra_profile(assertion_server),
                                        "auth": {"type": "client_assertion", "client_id": "c",
                                                 "assertion": "${github_oidc:}"}}})  # fmt: skip
    found = run("check", "-c", bad)
    assert found.code == 1 and "needs the audience" in found.stdout, found


def test_show_outside_actions_names_the_reference(
    tmp_path: Path, assertion_server: AssertionServer, outside_actions: None
) -> None:
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "show", "entra")
    assert result.code == 0, result
    assert "${github_oidc:api://AzureADTokenExchange}" in result.stdout


def test_federated_assertion_refused_with_a_hint(
    tmp_path: Path, assertion_server: AssertionServer, github_actions_env: FakeGitHubOIDC,
) -> None:  # fmt: skip
    assertion_server.register_federated_client(
        "federated-client", issuer=github_actions_env.issuer,
        subject="repo:octo/app:environment:prod",
    )  # fmt: skip
    config = write_config(tmp_path, {"entra": entra_profile(assertion_server)})
    result = run("-c", config, "refresh", "entra")
    assert_clean_failure(result, 4, "invalid_client", "sub",
                         secrets=(github_actions_env.issued[-1].token,))  # fmt: skip
    assert "hint: the client assertion was refused" in result.stderr
    assert "federated credential" in result.stderr
