"""Issue 11: terminal output is safe and readable.

Server text is data (SPEC §13): whatever a server sends (error, error_description, scope,
token_type, Location, WWW-Authenticate, introspection fields) reaches the terminal with control
characters escaped (no escape sequences, no CR overwriting the line, no bidi reordering) and is
never read as rich markup. Tables keep words whole at 60 columns, NO_COLOR drops bold and dim,
a 404 names host and path (never the query), an ordinary refusal has no traceback under -v, and
a permission warning comes once per run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PLANTED, assert_clean_failure, run, run_script
from tests.server import LoopbackServer, Request, Response, RotatingProvider
from tests.test_safety_output_checks import in_terminal

# ESC [ 2 J clears the screen; OSC 0 sets the window title; CR returns to the line's start;
# U+202E reverses what follows; U+009B is a one-byte CSI on some terminals.
HOSTILE = "\x1b[2J\x1b]0;owned\x07 ok\rerror: fake \u202eevil [bold]loud[/bold] \x9b31m"
RAW = ("\x1b", "\r", "\x07", "\u202e", "\x9b")


def assert_no_raw_controls(*texts: str) -> None:
    for text in texts:
        for char in RAW:
            assert char not in text, (char, text)


def assert_escaped(text: str) -> None:
    """The hostile text arrived spelled out, as data (the CR, being whitespace, as a space)."""
    for shown in ("\\x1b[2J", "\\x1b]0;owned\\x07", " ok error: fake ", "\\u202e",
                  "[bold]loud[/bold]", "\\x9b31m"):  # fmt: skip
        assert shown in text, (shown, text)


@pytest.fixture
def hostile_refusal(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(400, {"error": "invalid_grant", "error_description": HOSTILE}))
    profiles_file()


# --- item 5: server text in errors and traces -------------------------------------------------


def test_an_error_description_is_escaped_on_one_line(hostile_refusal: None) -> None:
    result = run("refresh", "p")
    assert_clean_failure(result, 4, "invalid_grant")
    assert_escaped(result.error_line)
    assert_no_raw_controls(result.stderr)
    assert not any(line.startswith("error: fake") for line in result.stderr.splitlines())


def test_the_console_script_writes_the_same_escaped_line(hostile_refusal: None) -> None:
    result = run_script("refresh", "p")
    assert_clean_failure(result, 4, "invalid_grant")
    assert_escaped(result.error_line)
    assert_no_raw_controls(result.stderr)


def test_a_hostile_error_code_is_escaped(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(400, {"error": "\x1b[31minvalid_grant\r\x1b[0m"}))
    profiles_file()
    result = run("refresh", "p")
    assert_clean_failure(result, 4, "\\x1b[31minvalid_grant \\x1b[0m")
    assert_no_raw_controls(result.stderr)


def test_a_newline_in_a_description_cannot_fake_a_line(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(400, {"error": "invalid_grant",
                                          "error_description": "no\nerror: all is fine\nhint: x"}))  # fmt: skip
    profiles_file()
    result = run("refresh", "p")
    assert_clean_failure(result, 4, "no error: all is fine hint: x")


def test_a_transient_error_code_is_escaped(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(503, {"error": "\x1b[5mdown\x07"}, {"Retry-After": "1\x1b[2J"}))
    profiles_file()
    result = run("refresh", "p")
    assert_clean_failure(result, 5, "HTTP 503 (\\x1b[5mdown\\x07)")
    assert "retry after 1\\x1b[2J" in result.stderr
    assert_no_raw_controls(result.stderr)


def test_a_redirect_location_is_escaped(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(302, b"", {"Location": "https://elsewhere.example/\x1b[2Jx"}))
    profiles_file()
    result = run("refresh", "p")
    assert_clean_failure(result, 6, "redirecting to https://elsewhere.example/\\x1b[2Jx")
    assert_no_raw_controls(result.stderr)


def test_a_lone_surrogate_is_escaped_not_a_crash(server: LoopbackServer, profiles_file: Any) -> None:
    """JSON may spell a lone surrogate (\\ud800); writing it raw would fail to encode (exit 70)."""
    server.reply("/token", Response(400, b'{"error": "invalid_grant", "error_description": "a\\ud800b"}',
                                    {"Content-Type": "application/json"}))  # fmt: skip
    profiles_file()
    result = run_script("refresh", "p")
    assert_clean_failure(result, 4, "a\\ud800b")


def test_verbose_traces_escape_server_text(hostile_refusal: None) -> None:
    result = run("-v", "refresh", "p")
    assert result.code == 4 and result.stdout == ""
    assert_no_raw_controls(result.stderr)
    assert "debug: response: HTTP 400" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert PLANTED not in result.stderr


def test_verbose_request_lines_are_indented_continuations(
    rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file()
    result = run("-v", "refresh", "p")
    assert result.code == 0, result
    lines = result.stderr.splitlines()
    start = lines.index("debug: request:")
    assert lines[start + 1].startswith("  POST http://127.0.0.1:")  # part of the debug record
    assert PLANTED not in result.stderr


def scoped(scope: str, token_type: str = "Bearer") -> Any:
    def handler(request: Request) -> Response:
        return Response(200, {"access_token": "at-scoped-0001", "token_type": token_type,
                              "expires_in": 3600, "scope": scope})  # fmt: skip

    return handler


def test_a_table_shows_scope_and_type_as_text(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/token", scoped(HOSTILE, "Bearer[/]\x1b[0m"))
    profiles_file({"a": {}, "b": {}})
    result = run("refresh", "a", "b", "-f", "table")
    assert result.code == 0, result
    assert_no_raw_controls(result.stdout)
    assert "[bold]loud[/bold]" in result.stdout and "Bearer[/]\\x1b[0m" in result.stdout
    assert "at-scoped-0001" not in result.stdout  # masked in tables


def test_validate_reports_escape_what_servers_said(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/introspect", body={"active": True, "client_id": "cid\u202eevil",
                                      "scope": "[red]admin[/red] \x1b[5mall"})  # fmt: skip
    server.reply("/api", Response(401, b"", {"WWW-Authenticate": 'Bearer error="[bold]x\x1b[2J"'}))
    profiles_file({"p": {"validate": {"introspection_url": server.url("/introspect"),
                                      "probe": {"url": server.url("/api")}}}})  # fmt: skip
    for fmt in ("table", "json"):
        result = run("validate", "p", "--token", "opaque-0123456789", "-f", fmt)
        assert result.code == 1, result  # the probe failed
        assert_no_raw_controls(result.stdout, result.stderr)
        shown = result.stdout if fmt == "table" else "".join(
            c["detail"] for c in json.loads(result.stdout)["checks"])  # fmt: skip
        for text in ("cid\\u202eevil", "[red]admin[/red] \\x1b[5mall", '[bold]x\\x1b[2J"'):
            assert text in shown, (text, shown)


# --- item 6: readable terminal output ---------------------------------------------------------


def words_of(output: str) -> set[str]:
    return set(re.split(r"[\s│┃┆║|]+", output))


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")


def assert_fits(output: str, width: int = 60) -> None:
    assert output.strip(), output
    for line in output.splitlines():
        assert len(line) <= width, (len(line), line)


def test_a_token_table_keeps_words_whole_at_60_columns(
    narrow: None, server: LoopbackServer, profiles_file: Any
) -> None:
    scope = "openid offline_access https://api.example.com/read admin:organisation"
    server.route("/token", scoped(scope))
    profiles_file({"production-eu-west": {}, "staging-us-east-1": {}})
    result = run("refresh", "--all", "-f", "table")
    assert result.code == 0, result
    assert_fits(result.stdout)
    found = words_of(result.stdout)
    expires = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result.stdout)
    assert len(expires) == 2  # the timestamps are whole
    for word in ["production-eu-west", "staging-us-east-1", "Bearer", *scope.split()]:
        assert word in found, (word, result.stdout)


def test_a_wide_terminal_keeps_columns_side_by_side(server: LoopbackServer, profiles_file: Any) -> None:
    server.route("/token", scoped("read"))
    profiles_file({"a": {}, "b": {}})
    result = run("refresh", "a", "b", "-f", "table")  # COLUMNS is 200 in every test
    header = next(line for line in result.stdout.splitlines() if "profile" in line)
    assert all(name in header for name in ("access token", "type", "expires at", "scope"))


def test_a_validate_table_keeps_words_whole_at_60_columns(narrow: None, profiles_file: Any) -> None:
    profiles_file()
    table = run("validate", "p", "--token", "opaque-0123456789")
    data = run("validate", "p", "--token", "opaque-0123456789", "-f", "json")
    assert table.code == data.code == 1
    assert_fits(table.stdout)
    found = words_of(table.stdout)
    for check in json.loads(data.stdout)["checks"]:
        for word in [check["name"], check["result"], *check["detail"].split()]:
            assert word in found, (word, table.stdout)


def test_a_list_table_keeps_words_whole_at_60_columns(
    narrow: None, rotating: RotatingProvider, profiles_file: Any
) -> None:
    profiles_file({"p": {"description": "the production API of the billing team"}})
    run("refresh", "p")
    result = run("list", "-f", "table")
    assert result.code == 0, result
    assert_fits(result.stdout)
    found = words_of(result.stdout)
    assert {"billing", "production", "POST"} <= found
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", w) for w in found), result.stdout


BOLD, DIM = "\x1b[1m", "\x1b[2m"


@pytest.mark.slow
def test_no_color_drops_bold_and_dim_on_a_terminal(profiles_file: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    profiles_file()
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    _, styled = in_terminal(["validate", "p", "--token", "opaque-0123456789"], "")
    assert BOLD in styled or DIM in styled, styled  # the test can see styles at all
    monkeypatch.setenv("NO_COLOR", "1")
    _, plain = in_terminal(["validate", "p", "--token", "opaque-0123456789"], "")
    assert "p: NOT valid" in plain
    assert "\x1b[" not in plain, plain
    monkeypatch.delenv("NO_COLOR")
    _, flagged = in_terminal(["--no-color", "validate", "p", "--token", "opaque-0123456789"], "")
    assert "\x1b[" not in flagged, flagged


def test_a_404_names_host_and_path_never_the_query(server: LoopbackServer, profiles_file: Any) -> None:
    profiles_file({"p": {"validate": {"introspection_url": server.url(f"/nope?key={PLANTED}")}}})
    result = run("validate", "p", "--token", "opaque-0123456789", "-f", "json")
    assert result.code == 4, result
    line = result.stderr.splitlines()[0]
    assert f"HTTP 404 Not Found: 127.0.0.1:{server.port}/nope" in line, line
    assert "key=" not in result.stderr and PLANTED not in result.stderr + result.stdout


def test_a_404_at_the_token_endpoint_names_the_path(server: LoopbackServer, profiles_file: Any) -> None:
    profiles_file({"p": {"token_url": server.url("/oauth/tokne")}})
    result = run("refresh", "p")
    assert_clean_failure(result, 4, f"HTTP 404 Not Found: 127.0.0.1:{server.port}/oauth/tokne")


def test_a_404_with_an_oauth_error_is_that_error(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/token", Response(404, {"error": "invalid_client"}))
    profiles_file()
    assert_clean_failure(run("refresh", "p"), 4, "invalid_client")


def test_no_traceback_for_a_refusal_under_verbose(hostile_refusal: None) -> None:
    for result in (run("-v", "refresh", "p"), run_script("-v", "refresh", "p")):
        assert result.code == 4, result
        assert "Traceback" not in result.stderr
        assert [line[:7] for line in result.stderr.splitlines()].count("error: ") == 1


def test_a_traceback_only_for_an_internal_error(
    rotating: RotatingProvider, profiles_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oauthcli.grants import driver

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    profiles_file()
    monkeypatch.setattr(driver, "refresh", broken)
    quiet = run("refresh", "p")
    assert quiet.code == 70 and "Traceback" not in quiet.stderr
    verbose = run("-v", "refresh", "p")
    assert verbose.code == 70 and "Traceback (most recent call last)" in verbose.stderr


def test_a_permission_warning_is_printed_once_per_run(
    server: LoopbackServer, profiles_file: Any, isolated: Path
) -> None:
    for name in ("a", "b", "c"):
        server.route(f"/{name}", RotatingProvider())
    profiles_file({name: {"token_url": server.url(f"/{name}")} for name in ("a", "b", "c")})
    state = Path(os.environ["OAUTHCLI_STATE_DIR"])
    state.mkdir(mode=0o700)
    state.chmod(0o750)  # readable by the group: a warning, not a refusal
    for result in (run("refresh", "a", "b", "c", "-f", "json"), run("list", "-f", "json"),
                   run_script("token", "a"), run("refresh", "a", "b", "c", "-f", "json")):  # fmt: skip
        assert result.code == 0, result
        assert result.stderr.count("accessible by other users") == 1, result


def test_json_output_escapes_what_would_act_on_a_terminal(server: LoopbackServer,
                                                          profiles_file: Any) -> None:  # fmt: skip
    """`-f json` is data: the same values, with C1 controls, bidi overrides and lone surrogates
    as \\u escapes, so it is safe on a terminal and encodable as UTF-8 (no exit 70)."""
    body = b'{"access_token": "at-1", "expires_in": 60, "scope": "caf\\u00e9 a\\ud800b\\u009b\\u202e"}'
    server.reply("/token", Response(200, body, {"Content-Type": "application/json"}))
    profiles_file()
    result = run_script("refresh", "p", "-f", "json")
    assert result.code == 0, result
    assert_no_raw_controls(result.stdout)
    assert "café" in result.stdout  # ordinary non-ASCII stays as it is
    assert json.loads(result.stdout)["scope"] == "café a\ud800b\x9b\u202e"


def test_an_access_token_that_cannot_be_written_is_exit_6_not_70(server: LoopbackServer,
                                                                 profiles_file: Any) -> None:  # fmt: skip
    body = b'{"access_token": "at-\\ud800-x", "expires_in": 60}'
    server.reply("/token", Response(200, body, {"Content-Type": "application/json"}))
    profiles_file()
    for args in (("token", "p"), ("env", "p")):
        result = run_script(*args)
        assert result.code == 6, result
        assert result.error_line.startswith("error: the answer holds characters that cannot be")
        assert "Traceback" not in result.stderr
    assert run_script("token", "p", "-f", "json").code == 0  # the stored token, escaped
