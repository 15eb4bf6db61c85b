"""Every bad input of issue 2: exit code, one-line error on stderr, clean stdout, no secret leaked."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PLANTED, assert_clean_failure, run, write_profiles
from tests.server import LoopbackServer, Response

# --- the profiles file -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    result = run("-c", str(tmp_path / "nope.yaml"), "refresh", "p")
    assert_clean_failure(result, 3, "profiles file not found", "nope.yaml")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"profiles:\n  p:\n    token_url: x\n    body: {{a: {PLANTED}\n")
    result = run("-c", str(path), "refresh", "p")
    assert_clean_failure(result, 3, "YAML syntax error", f"{path}:")
    assert f"{path}:5:" in result.error_line or f"{path}:4:" in result.error_line


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ({"timeout": "soon"}, ("field timeout", "expected positive number")),
        ({"headers": ["a"]}, ("field headers", "expected mapping")),
        ({"retries": 99}, ("field retries",)),
        ({"insecure": "yes"}, ("field insecure", "expected boolean")),
        ({"method": "FETCH"}, ("field method", "expected HTTP method")),
        ({"auth": {"type": "digest", "client_id": "a", "client_secret": "b"}}, ("auth.type",)),
        ({"tokn_url": "https://x"}, ("unknown key 'tokn_url'",)),
        ({"validate": {"probe": {"url": "https://x", "expect": 200}}}, ("validate.probe.expect",)),
        ({"response": {"acess_token": "a"}}, ("unknown response field 'acess_token'",)),
        ({"validate": {"audience": 5}}, ("field validate.audience", "string or list")),
        (
            {"validate": {"probe": {"url": "https://x", "expect_status": "ok"}}},
            ("field validate.probe.expect_status",),
        ),
        ({"validate": {"probe": "https://x"}}, ("field validate.probe", "mapping with url")),
    ],
)
def test_schema_errors(
    profiles_file: Any, spec: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    profiles_file({"p": spec})
    result = run("refresh", "p")
    assert_clean_failure(result, 3, "profile 'p'", *fragments)


def test_unknown_key_suggests_close_match(profiles_file: Any) -> None:
    profiles_file({"p": {"tokn_url": "https://x"}})
    result = run("refresh", "p")
    assert "hint: did you mean 'token_url'?" in result.stderr


def test_missing_token_url(tmp_path: Path) -> None:
    path = write_profiles(tmp_path / "p.yaml", {"p": {"body": {"client_secret": PLANTED}}})
    assert_clean_failure(run("-c", str(path), "refresh", "p"), 3, "token_url is required")


def test_unknown_profile_lists_close_names(profiles_file: Any) -> None:
    profiles_file({"google": {}, "google-work": {}, "slack": {}})
    result = run("refresh", "gogle")
    assert_clean_failure(result, 3, "unknown profile 'gogle'", "google, google-work, slack")
    assert "did you mean 'google'" in result.stderr


def test_extends_cycle(profiles_file: Any) -> None:
    profiles_file({"a": {"extends": "b"}, "b": {"extends": "a"}})
    assert_clean_failure(run("refresh", "a"), 3, "extends cycle", "a → b → a")


def test_unset_env_reference_names_profile_field_and_variable(profiles_file: Any) -> None:
    profiles_file({"p": {"body": {"client_secret": "${env:OAUTHCLI_TEST_UNSET}"}}})
    result = run("refresh", "p")
    assert_clean_failure(result, 3, "profile 'p'", "body.client_secret", "OAUTHCLI_TEST_UNSET")


def test_unreadable_file_reference(profiles_file: Any, tmp_path: Path) -> None:
    profiles_file({"p": {"body": {"client_secret": f"${{file:{tmp_path}/missing}}"}}})
    assert_clean_failure(run("refresh", "p"), 3, "cannot read ${file:", "body.client_secret")


def test_failing_cmd_reference(profiles_file: Any) -> None:
    profiles_file({"p": {"body": {"client_secret": "${cmd:sh -c 'echo " + PLANTED + "; exit 3'}"}}})
    result = run("refresh", "p")
    assert_clean_failure(result, 3, "${cmd:…} exited with status 3", "body.client_secret")


def test_plain_http_to_remote_host_refused_before_connecting(profiles_file: Any) -> None:
    profiles_file({"p": {"token_url": "http://203.0.113.9/token"}})
    result = run("refresh", "p")
    assert_clean_failure(result, 3, "refusing plain http:// to 203.0.113.9")


# --- the provider's answer ---------------------------------------------------------------------

HTML = "<html><body>Sign in</body></html>"


@pytest.mark.parametrize(
    ("response", "code", "fragment"),
    [
        (Response(200, HTML, {"Content-Type": "text/html"}), 6, "neither JSON nor form data"),
        (Response(200, b""), 6, "with an empty body"),
        (Response(200, "{not json", {"Content-Type": "application/json"}), 6, "neither JSON"),
        (Response(200, {"token_type": "Bearer", "expires_in": 60}), 6, "without an access token"),
        (Response(200, b"x" * (1024 * 1024 + 10), {"Content-Type": "application/json"}), 6, "1 MiB"),
        (Response(302, b"", {"Location": "https://evil.example/steal"}), 6,
         "redirecting to https://evil.example/steal"),
        (Response(400, {"error": "invalid_grant", "error_description": "Token expired"}), 4,
         "invalid_grant: Token expired (HTTP 400)"),
        (Response(401, {"error": "invalid_client"}), 4, "invalid_client (HTTP 401)"),
        (Response(200, {"error": "bad_refresh_token",
                        "error_description": "The refresh token passed is incorrect"}), 4,
         "bad_refresh_token"),
        (Response(200, {"ok": False, "error": "invalid_refresh_token"}), 4, "invalid_refresh_token"),
        (Response(500, {"error": "server_error"}), 5, "HTTP 500"),
        (Response(403, HTML, {"Content-Type": "text/html"}), 4, "HTTP 403"),
    ],
)  # fmt: skip
def test_provider_answers(
    profiles_file: Any, server: LoopbackServer, response: Response, code: int, fragment: str
) -> None:
    server.reply("/token", response)
    profiles_file({"p": {"retries": 2}})
    result = run("refresh", "p")
    assert_clean_failure(result, code, fragment)


def test_invalid_grant_hints_that_a_person_must_reauthorise(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(400, {"error": "invalid_grant"}))
    profiles_file()
    result = run("refresh", "p")
    assert "hint: the refresh token is dead" in result.stderr
    assert "a person must authorise again" in result.stderr


def test_500_is_not_retried(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(500, {"error": "server_error"}))
    profiles_file({"p": {"retries": 2}})
    run("refresh", "p")
    assert len(server.hits("/token")) == 1


@pytest.mark.slow
def test_429_with_retry_after_is_retried_then_succeeds(
    profiles_file: Any, server: LoopbackServer
) -> None:
    answers = [Response(429, {"error": "slow_down"}, {"Retry-After": "1"}),
               Response(200, {"access_token": "at-after-429", "expires_in": 60})]  # fmt: skip
    server.route("/token", lambda request: answers.pop(0))
    profiles_file({"p": {"retries": 2}})
    result = run("refresh", "p")
    assert (result.code, result.stdout) == (0, "at-after-429\n"), result
    hits = server.hits("/token")
    assert len(hits) == 2


def test_429_after_all_retries_is_transient(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(429, b"", {"Retry-After": "0"}))
    profiles_file({"p": {"retries": 1}})
    assert_clean_failure(run("refresh", "p"), 5, "HTTP 429")
    assert len(server.hits("/token")) == 2


def test_retry_after_beyond_30s_is_not_waited_for(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(503, b"", {"Retry-After": "3600"}))
    profiles_file({"p": {"retries": 2}})
    assert_clean_failure(run("refresh", "p"), 5, "HTTP 503")
    assert len(server.hits("/token")) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused(profiles_file: Any) -> None:
    profiles_file({"p": {"token_url": f"http://127.0.0.1:{_closed_port()}/token"}})
    assert_clean_failure(
        run("refresh", "p"), 5, "cannot connect to 127.0.0.1", "connection refused"
    )


@pytest.mark.slow
def test_read_timeout_is_not_retried(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/token", Response(200, {"access_token": "late"}, delay=1.5))
    profiles_file({"p": {"timeout": 0.5, "retries": 2}})
    result = run("refresh", "p")
    assert_clean_failure(result, 5, "timed out after 0.5s")
    assert len(server.hits("/token")) == 1


def test_secret_in_error_description_is_redacted(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(400, {"error": "invalid_client",
                                          "error_description": f"bad secret {PLANTED}"}))  # fmt: skip
    profiles_file()
    result = run("refresh", "p")
    assert_clean_failure(result, 4, "invalid_client")
    assert "****" in result.stderr


def test_body_without_content_type_is_still_understood(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, b'{"access_token": "no-ct-token"}'))
    profiles_file()
    assert run("refresh", "p").stdout == "no-ct-token\n"


def test_verbose_trace_redacts_every_secret(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    result = run("-v", "refresh", "p")
    assert result.code == 0
    assert "POST http://127.0.0.1" in result.stderr
    for secret in (PLANTED, "rt-initial-0001", "at-0001-abcdefgh", "rt-rotated-0001"):
        assert secret not in result.stderr
