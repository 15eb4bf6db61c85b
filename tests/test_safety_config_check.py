"""Issue 11: `check` reports every problem with file:line and close matches, never runs a
command; literal secrets are secrets too; no hint offers a default for a secret (SPEC §13)."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml

from tests.conftest import PLANTED, assert_clean_failure, run, run_script
from tests.server import LoopbackServer, Response

EVERY_PROBLEM = """\
defualts:
  timeout: 5
defaults:
  timout: 3
  retries: many
profiles:
  a:
    tokn_url: https://x.example/t
    auth: {type: basic, clinet_id: x, client_secret: y}
    validate:
      introspection_url: https://x.example/i
      jwks_uri: https://x.example/j
      probe: {url: https://x.example, expct_status: 200}
    login: {flw: device}
    grant: {type: client_credentials, scop: x}
    git: {usrname: x}
    response: {acess_token: a}
  b:
    token_url: http://auth.example.com/t
    timeout: soon
    method: FETCH
  c:
    extends: b
    body: {x: "${bogus:thing}"}
  d:
    extends: nowhere
"""
EXPECTED = [
    (1, "error: unknown top-level key 'defualts' (did you mean 'defaults'?)"),
    (4, "error: defaults: unknown key 'timout' (did you mean 'timeout'?)"),
    (5, "error: defaults: field retries: expected integer 0-10, got 'many'"),
    (8, "error: a: unknown key 'tokn_url' (did you mean 'token_url'?)"),
    (9, "error: a: unknown key 'auth.clinet_id' (did you mean 'client_id'?)"),
    (9, "error: a: field auth.client_id: expected string, got nothing"),
    (12, "error: a: unknown key 'validate.jwks_uri' (did you mean 'jwks_url'?)"),
    (13, "error: a: unknown key 'validate.probe.expct_status' (did you mean 'expect_status'?)"),
    (14, "error: a: unknown key 'login.flw' (did you mean 'flow'?)"),
    (15, "error: a: unknown key 'grant.scop' (did you mean 'scope'?)"),
    (16, "error: a: unknown key 'git.usrname' (did you mean 'username'?)"),
    (17, "error: a: unknown response field 'response.acess_token' (did you mean 'access_token'?)"),
    (19, "error: b: token_url uses plain http:// to auth.example.com"),
    (20, "error: b: field timeout: expected positive number of seconds, got 'soon'"),
    (21, "error: b: field method: expected HTTP method, got 'FETCH'"),
    (24, "error: c: field body.x: unknown reference ${bogus:thing}"),
    (25, "error: d: unknown profile 'nowhere'"),
]


def test_check_reports_every_problem_in_one_run_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "every.yaml"
    path.write_text(EVERY_PROBLEM)
    result = run("-c", str(path), "check")
    assert result.code == 1 and result.stderr == "", result
    lines = result.stdout.splitlines()
    for line, text in EXPECTED:
        assert any(found.startswith(f"{path}:{line}: {text}") for found in lines), (text, lines)
    # b's problems are inherited by c: reported once, at b, where they are written
    assert not any(": c: field timeout" in found or ": c: token_url" in found for found in lines)
    assert lines[-1] == f"{path}: 4 profiles, {len(lines) - 1} errors, 0 warnings"


@pytest.mark.parametrize(
    ("snippet", "suggestion"),
    [
        ({"profils": {}}, "did you mean 'profiles'?"),
        ({"defaults": {"retires": 1}, "profiles": {}}, "did you mean 'retries'?"),
        ({"defaults": {"auth": {"clientid": "x"}}, "profiles": {}}, "did you mean 'client_id'?"),
        ({"store": {"uri": "redis://x"}, "profiles": {}}, "did you mean 'url'?"),
        ({"profiles": {"p": {"token_url": "https://x/t", "methd": "GET"}}}, "'method'"),
        ({"profiles": {"p": {"token_url": "https://x/t", "auth": {"tpye": "basic"}}}}, "'type'"),
        ({"profiles": {"p": {"token_url": "https://x/t", "validate": {"isuer": "x"}}}}, "'issuer'"),
        ({"profiles": {"p": {"token_url": "https://x/t",
                             "validate": {"probe": {"url": "u", "metod": "GET"}}}}}, "'method'"),
        ({"profiles": {"p": {"token_url": "https://x/t",
                             "login": {"redirect_url": "http://127.0.0.1/cb"}}}}, "'redirect_uri'"),
        ({"profiles": {"p": {"token_url": "https://x/t",
                             "grant": {"type": "client_credentials", "scopes": "a"}}}}, "'scope'"),
        ({"profiles": {"p": {"token_url": "https://x/t", "git": {"user": "x"}}}}, "'username'"),
        ({"profiles": {"p": {"token_url": "https://x/t", "response": {"expires": "e"}}}},
         "'expires_in'"),
    ],
    ids=["top", "defaults", "defaults-auth", "store", "profile", "auth", "validate", "probe",
         "login", "grant", "git", "response"],
)  # fmt: skip
def test_check_suggests_a_close_match_for_a_misspelt_key_anywhere(
    tmp_path: Path, snippet: dict[str, Any], suggestion: str
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(snippet, sort_keys=False))
    result = run("-c", str(path), "check")
    assert result.code == 1, result
    finding = next(line for line in result.stdout.splitlines() if "unknown" in line)
    assert finding.startswith(f"{path}:") and suggestion in finding, result


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ({"grant_type": "refresh_token", "refresh_token": PLANTED}, "a literal"),
        ({"grant_type": "refresh_token", "refresh_token": "${env:MY_RT}"}, "${env:MY_RT}"),
        (f"grant_type=refresh_token&refresh_token={PLANTED}&client_id=c", "a literal"),
        (
            '{"grant_type": "refresh_token", "refresh_token": "${file:~/rt.txt}"}',
            "${file:~/rt.txt}",
        ),
    ],
    ids=["mapping-literal", "mapping-env", "form-string", "json-string"],
)
def test_check_warns_when_a_refresh_token_is_written_into_the_body(
    tmp_path: Path, body: Any, written: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_RT", "rt-from-env-0001")
    (tmp_path / "home" / "rt.txt").write_text("rt-from-file\n")
    path = tmp_path / "rt.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {"token_url": "https://x.example/t",
                                                        "body": body}}}))  # fmt: skip
    result = run("-c", str(path), "check")
    assert result.code == 0, result  # a warning only
    warning = next(line for line in result.stdout.splitlines() if "body sends" in line)
    assert (
        f"warning: p: body sends the refresh token as {written} instead of ${{refresh_token}}"
        in warning
    )
    assert "rotates" in warning and PLANTED not in result.stdout


def test_check_is_quiet_about_a_body_that_uses_the_reference(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {
        "token_url": "https://x.example/t", "refresh_token": "${env:HOME}",
        "body": "grant_type=refresh_token&refresh_token=${refresh_token}"}}}))  # fmt: skip
    result = run("-c", str(path), "check")
    assert (result.code, result.stdout.splitlines()[-1]) == (
        0,
        f"{path}: 1 profiles, 0 errors, 0 warnings",
    )


def test_check_never_runs_a_command_nor_fetches_an_id_token(
    tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply("/oidc", Response(200, {"value": "id-token"}))
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", server.url("/oidc?x=1"))
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
    marker = tmp_path / "ran"
    path = tmp_path / "cmd.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {
        "token_url": "https://x.example/t",
        "headers": {"X-A": f"${{cmd:{sys.executable} -c \"open('{marker}', 'w')\"}}"},
        "auth": {"type": "client_assertion", "client_id": "c",
                 "assertion": "${github_oidc:api://AzureADTokenExchange}"}}}}))  # fmt: skip
    for args in (("check",), ("check", "--strict")):
        result = run_script("-c", str(path), *args)
        assert result.code == 0, result
    assert not marker.exists() and server.requests == []


def test_check_output_carries_no_literal_secret(tmp_path: Path) -> None:
    path = tmp_path / "lit.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {
        "token_url": f"http://203.0.113.9/t?client_secret={PLANTED}",
        "auth": {"type": "digest", "client_id": "c", "client_secret": PLANTED},
        "timeout": PLANTED[:30]}}}))  # fmt: skip
    result = run("-c", str(path), "check")
    assert result.code == 1 and "field timeout" in result.stdout, result
    assert PLANTED not in result.stdout + result.stderr and PLANTED[:30] not in result.stdout


def test_check_reads_stdin_with_lines(tmp_path: Path) -> None:
    result = run("-c", "-", "check", stdin="profiles:\n  p:\n    tokn_url: https://x/t\n")
    assert "<stdin>:3: error: p: unknown key 'tokn_url'" in result.stdout, result


# --- literal secrets are secrets too ------------------------------------------------------------

LITERALS = {  # where a secret is written literally → the profile's settings
    "body-string": {"body": f"grant_type=client_credentials&client_id=c&client_secret={PLANTED}"},
    "json-body-string": {"headers": {"Content-Type": "application/json"},
                         "body": f'{{"grant_type": "client_credentials", "api_key": "{PLANTED}"}}'},
    "url-query": {"url_query": f"key={PLANTED}&x=1"},
    "url-userinfo": {"url_userinfo": f"client:{PLANTED}"},
    "proxy-userinfo": {"proxy": f"http://user:{PLANTED}@127.0.0.1:9/"},
    "header": {"headers": {"X-Api-Key": PLANTED}},
    "params": {"params": {"subscription-key": PLANTED}},
    "env-default": {"body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                             "client_secret": f"${{env:NO_SUCH_SECRET_VAR:-{PLANTED}}}"}},
}  # fmt: skip


def literal_profile(tmp_path: Path, server: LoopbackServer, kind: str) -> Path:
    server.reply("/token", Response(200, {"access_token": "at-literal", "expires_in": 600}))
    spec: dict[str, Any] = {"retries": 0, "refresh_token": "rt-literal-initial",
                            "body": {"grant_type": "refresh_token",
                                     "refresh_token": "${refresh_token}"}}  # fmt: skip
    settings = dict(LITERALS[kind])
    url = server.url("/token")
    if "url_query" in settings:
        url += "?" + settings.pop("url_query")
    if "url_userinfo" in settings:
        url = url.replace("://", f"://{settings.pop('url_userinfo')}@")
    spec.update(settings, token_url=url)
    path = tmp_path / "literal.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": spec}}, sort_keys=False))
    return path


def assert_nowhere(*texts: str) -> None:
    for text in texts:
        assert PLANTED not in text, text
    for root, _, files in os.walk(os.environ["OAUTHCLI_STATE_DIR"]):
        for name in files:
            assert PLANTED.encode() not in (Path(root) / name).read_bytes(), name


@pytest.mark.parametrize("kind", LITERALS)
def test_literal_secrets_are_redacted_in_dry_run_verbose_errors_and_check(
    tmp_path: Path, server: LoopbackServer, kind: str
) -> None:
    path = literal_profile(tmp_path, server, kind)
    dry = run("-c", str(path), "refresh", "p", "--dry-run")
    assert dry.code == 0, dry
    verbose = run("-c", str(path), "-v", "refresh", "p")
    assert (verbose.code, verbose.stdout) == (0, "at-literal\n"), verbose
    sent = server.requests[-1]
    if kind == "url-userinfo":  # sent as Basic authentication
        assert base64.b64decode(sent.headers["authorization"].split()[1]).decode().endswith(PLANTED)
    elif kind != "proxy-userinfo":  # (no proxy for loopback)
        assert PLANTED in unquote(f"{sent.body.decode()} {sent.query} {sent.headers}")
    server.reply("/token", Response(400, {"error": "invalid_client",
                                          "error_description": f"client {PLANTED} unknown"}))  # fmt: skip
    refused = run("-c", str(path), "refresh", "p")
    assert refused.code in (4, 5), refused
    check = run("-c", str(path), "check")
    assert_nowhere(dry.stdout, dry.stderr, verbose.stderr, refused.stderr, check.stdout)
    assert not (Path(os.environ["OAUTHCLI_STATE_DIR"]) / ".profiles-cache.json").exists()




@pytest.mark.parametrize(
    "kind",
    list(LITERALS),
)  # fmt: skip
def test_literal_secrets_are_redacted_by_show(
    tmp_path: Path, server: LoopbackServer, kind: str
) -> None:
    path = literal_profile(tmp_path, server, kind)
    result = run("-c", str(path), "show", "p")
    assert result.code == 0, result
    assert_nowhere(result.stdout, result.stderr)


@pytest.mark.parametrize(
    "kind",
    ["url-query", "url-userinfo"],
)  # fmt: skip
def test_literal_secrets_are_redacted_by_list(
    tmp_path: Path, server: LoopbackServer, kind: str
) -> None:
    path = literal_profile(tmp_path, server, kind)
    for fmt in ("json", "table"):
        result = run("-c", str(path), "list", "-f", fmt)
        assert result.code == 0, result
        assert_nowhere(result.stdout, result.stderr)


def test_a_file_of_references_only_is_still_cached(tmp_path: Path) -> None:
    """Names that look secret but map names (response, export) or describe a value
    (token_type_hint, *_method, *_type) are no literal secrets, and stay readable."""
    path = tmp_path / "refs.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": {
        "token_url": "https://127.0.0.1:9/t?audience=api&token_type_hint=refresh_token",
        "refresh_token": "${env:HOME}",
        "response": {"access_token": "data.token", "refresh_token": "data.rt"},
        "export": {"GH_TOKEN": "access_token"},
        "params": {"code_challenge_method": "S256"},
        "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                 "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                 "client_secret": "${file:~/secret.txt}"},
    }}}))  # fmt: skip
    (tmp_path / "home" / "secret.txt").write_text("from-a-file\n")
    assert run_script("-c", str(path), "list").code == 0
    assert (Path(os.environ["OAUTHCLI_STATE_DIR"]) / ".profiles-cache.json").exists()
    dry = run("-c", str(path), "refresh", "p", "--dry-run")
    assert dry.code == 0, dry
    for word in ("grant_type=refresh_token", "token_type_hint=refresh_token", "S256", "jwt-bearer"):
        assert word in dry.stdout + dry.stderr, (word, dry)


# --- no hint offers a default for a secret ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "offers_default"),
    [
        ("refresh_token", "${env:UNSET_RT_VAR}", False),
        ("body", {"refresh_token": "${env:UNSET_RT_VAR}"}, False),
        ("body", {"client_secret": "${env:UNSET_RT_VAR}"}, False),
        ("headers", {"Authorization": "Bearer ${env:UNSET_RT_VAR}"}, False),
        ("headers", {"Accept": "${env:UNSET_RT_VAR}"}, True),
    ],
    ids=["refresh_token", "body.refresh_token", "client_secret", "authorization", "accept"],
)
def test_no_hint_offers_a_default_for_a_secret(
    tmp_path: Path, field: str, value: Any, offers_default: bool
) -> None:
    spec: dict[str, Any] = {"token_url": "https://127.0.0.1:9/t", field: value}
    if field != "refresh_token":
        spec["refresh_token"] = "rt-0001"
    path = tmp_path / "unset.yaml"
    path.write_text(yaml.safe_dump({"profiles": {"p": spec}}))
    result = run("-c", str(path), "refresh", "p", "--dry-run")
    assert_clean_failure(result, 3, "UNSET_RT_VAR is not set")
    assert "hint: export UNSET_RT_VAR=…" in result.stderr
    assert (":-default" in result.stderr) is offers_default


@pytest.mark.parametrize(
    ("login", "finding"),
    [
        ({"flow": "devce"}, "field login.flow: expected 'browser' or 'device', got 'devce' "
                            "(did you mean 'device'?)"),
        ({"flow": 3}, "field login.flow: expected 'browser' or 'device', got 3"),
        ({"redirect_uri": "http://example.com:8080/cb"}, "field login.redirect_uri: host "
                                                         "'example.com' is not loopback"),
        ({"redirect_uri": "https://127.0.0.1/cb"}, "field login.redirect_uri: must be an http://"),
        ({"redirect_uri": "http://127.0.0.1:0/cb?x=1"}, "must not have a query or fragment"),
        ({"redirect_uri": "http://u:pw@127.0.0.1/cb"}, "must not carry user information"),
    ],
    ids=["flow-typo", "flow-number", "not-loopback", "https", "query", "userinfo"],
)  # fmt: skip
def test_check_reports_login_values_that_login_would_refuse(
    tmp_path: Path, login: dict[str, Any], finding: str
) -> None:
    path = tmp_path / "login.yaml"
    endpoints = {"authorization_url": "https://id.example.com/authorize",
                 "device_authorization_url": "https://id.example.com/device"}  # no discovery
    profile = {"token_url": "https://id.example.com/token",
               "auth": {"type": "none", "client_id": "c"}, "login": {**endpoints, **login}}  # fmt: skip
    path.write_text(yaml.safe_dump({"profiles": {"p": profile}}, sort_keys=False))
    result = run("-c", str(path), "check")
    assert result.code == 1 and result.stderr == "", result
    assert any(line.startswith(f"{path}:") and finding in line
               for line in result.stdout.splitlines()), result  # fmt: skip
    assert "pw" not in result.stdout.replace(str(path), "")
    login_run = run("-c", str(path), "login", "p", "--no-browser", "--timeout", "1")
    assert login_run.code == 3 and login_run.stdout == "", login_run  # login agrees: exit 3


def test_check_is_quiet_about_good_login_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "login.yaml"
    profiles = {name: {"issuer": "https://id.example.com",
                       "auth": {"type": "none", "client_id": "c"}, "login": login}
                for name, login in {"a": {"flow": "device"},
                                    "b": {"redirect_uri": "http://localhost:0/callback"},
                                    "c": {"redirect_uri": "http://[::1]:8765/cb"},
                                    "d": {"redirect_uri": "${env:REDIRECT}"}}.items()}  # fmt: skip
    path.write_text(yaml.safe_dump({"profiles": profiles}, sort_keys=False))
    monkeypatch.setenv("REDIRECT", "http://127.0.0.1:0/cb")
    result = run("-c", str(path), "check")
    assert result.code == 0 and result.stdout == f"{path}: 4 profiles, 0 errors, 0 warnings\n"
