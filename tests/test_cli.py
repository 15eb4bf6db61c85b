"""The command-line contract: config discovery, references, grants, formats, several profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from oauthcli import __version__
from tests.conftest import PLANTED, SCRIPT, assert_clean_failure, run, run_script, write_profiles
from tests.server import LoopbackServer, Request, Response

ROOT = Path(__file__).resolve().parents[1]


def token_endpoint(server: LoopbackServer, token: str = "the-token") -> None:
    server.reply("/token", Response(200, {"access_token": token, "token_type": "bearer",
                                          "expires_in": "120", "scope": "a b"}))  # fmt: skip


# --- locating the profiles file ---------------------------------------------------------------


def _profile_yaml(server: LoopbackServer, token: str) -> str:
    return yaml.safe_dump({"profiles": {"p": {"token_url": server.url(f"/{token}")}}})


@pytest.fixture
def tokens(server: LoopbackServer) -> LoopbackServer:
    for name in ("opt", "env", "cwd", "user", "stdin"):
        server.reply(f"/{name}", Response(200, {"access_token": f"from-{name}"}))
    return server


def test_discovery_order(
    tokens: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "oauthcli" / "profiles.yaml"
    user.parent.mkdir(parents=True)
    user.write_text(_profile_yaml(tokens, "user"))
    assert run("refresh", "p").stdout == "from-user\n"
    (tmp_path / "oauthcli.yaml").write_text(_profile_yaml(tokens, "cwd"))
    untrusted = run("refresh", "p")  # found, not silently skipped, and not used until trusted
    assert untrusted.code == 3 and "oauthcli trust" in untrusted.error_line, untrusted
    assert run("trust").code == 0
    assert run("refresh", "p").stdout == "from-cwd\n"
    (tmp_path / "env.yaml").write_text(_profile_yaml(tokens, "env"))
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(tmp_path / "env.yaml"))
    assert run("refresh", "p").stdout == "from-env\n"
    (tmp_path / "opt.yaml").write_text(_profile_yaml(tokens, "opt"))
    assert run("-c", str(tmp_path / "opt.yaml"), "refresh", "p").stdout == "from-opt\n"
    assert run("refresh", "p", "--config", str(tmp_path / "opt.yaml")).stdout == "from-opt\n"
    assert (
        run("-c", "-", "refresh", "p", stdin=_profile_yaml(tokens, "stdin")).stdout
        == "from-stdin\n"
    )


def test_defaults_are_deep_merged_and_extends_inherits(
    profiles_file: Any, server: LoopbackServer
) -> None:
    token_endpoint(server)
    profiles_file(
        {"base": {"headers": {"X-Base": "1"}, "params": {"p": "base"}},
         "child": {"extends": "base", "headers": {"X-Child": "2"}}},
        defaults={"headers": {"X-Default": "0", "X-Base": "overridden"}, "timeout": 5},
    )  # fmt: skip
    assert run("refresh", "child").code == 0
    hit = server.hits("/token")[0]
    assert (hit.headers["x-default"], hit.headers["x-base"], hit.headers["x-child"]) == (
        "0",
        "1",
        "2",
    )
    assert hit.query == {"p": ["base"]}


# --- references -------------------------------------------------------------------------------


def test_all_reference_kinds(profiles_file: Any, server: LoopbackServer, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    token_endpoint(server)
    (tmp_path / "secret.txt").write_text("from-file\n")
    monkeypatch.setenv("A_VAR", "from-env")
    profiles_file({"p": {"body": {
        "env": "${env:A_VAR}", "short": "${A_VAR}", "default": "${env:UNSET_VAR:-dflt}",
        "file": f"${{file:{tmp_path}/secret.txt}}", "cmd": "${cmd:printf from-cmd}",
        "dollar": "cost $$5", "rt": "${refresh_token}",
    }}})  # fmt: skip
    assert run("refresh", "p").code == 0
    assert server.hits("/token")[0].form == {
        "env": "from-env", "short": "from-env", "default": "dflt", "file": "from-file",
        "cmd": "from-cmd", "dollar": "cost $5", "rt": "rt-initial-0001",
    }  # fmt: skip


def test_file_reference_expands_home(profiles_file: Any, server: LoopbackServer) -> None:
    token_endpoint(server)
    (Path(os.environ["HOME"]) / "s").write_text("home-secret")
    profiles_file({"p": {"body": {"s": "${file:~/s}"}}})
    assert run("refresh", "p").code == 0
    assert server.hits("/token")[0].form == {"s": "home-secret"}


def test_cmd_reference_runs_without_a_shell(
    profiles_file: Any, server: LoopbackServer, tmp_path: Path
) -> None:
    token_endpoint(server)
    profiles_file(
        {"p": {"body": {"s": "${cmd:echo $HOME; touch " + str(tmp_path / "PWNED") + "}"}}}
    )
    assert run("refresh", "p").code == 0
    assert server.hits("/token")[0].form["s"] == f"$HOME; touch {tmp_path}/PWNED"
    assert not (tmp_path / "PWNED").exists()


# --- grants and client authentication ---------------------------------------------------------


def test_client_credentials_grant_with_basic_auth(
    profiles_file: Any, server: LoopbackServer
) -> None:
    token_endpoint(server)
    profiles_file({"p": {"refresh_token": None, "body": {"grant_type": "client_credentials",
                                                         "scope": "read"},
                         "auth": {"type": "basic", "client_id": "svc", "client_secret": PLANTED}}})  # fmt: skip
    result = run("refresh", "p")
    assert (result.code, result.stdout) == (0, "the-token\n"), result
    hit = server.hits("/token")[0]
    assert hit.form == {"grant_type": "client_credentials", "scope": "read"}
    assert hit.headers["authorization"].startswith("Basic ")


def test_password_grant_with_string_body_and_special_characters(
    profiles_file: Any, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_endpoint(server)
    nasty = "p%c ^*&=+#d e"
    monkeypatch.setenv("PW", nasty)
    monkeypatch.setenv("CS", nasty + "2")
    body = (
        "grant_type=password&username=alice&password=${env:PW}&client_id=c&client_secret=${env:CS}"
    )
    profiles_file({"p": {"refresh_token": None, "body": body}})
    result = run("refresh", "p")
    assert result.code == 0, result
    form = server.hits("/token")[0].form
    assert (form["password"], form["client_secret"], form["username"]) == (
        nasty,
        nasty + "2",
        "alice",
    )


def test_json_body_and_any_method(profiles_file: Any, server: LoopbackServer) -> None:
    token_endpoint(server)
    profiles_file({"p": {"method": "PUT", "body_format": "json",
                         "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"}}})  # fmt: skip
    assert run("refresh", "p").code == 0
    hit = server.hits("/token")[0]
    assert hit.method == "PUT" and hit.json == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-initial-0001",
    }


# --- formats ----------------------------------------------------------------------------------


def test_formats(profiles_file: Any, server: LoopbackServer) -> None:
    token_endpoint(server)
    profiles_file()
    assert run("refresh", "p").stdout == "the-token\n"
    assert run("refresh", "p", "-f", "header").stdout == "Authorization: Bearer the-token\n"
    data = json.loads(run("refresh", "p", "-f", "json").stdout)
    assert data["access_token"] == "the-token" and data["token_type"] == "bearer"
    assert data["profile"] == "p" and data["scope"] == "a b" and 115 <= data["expires_in"] <= 120
    assert data["expires_at"].endswith("Z") and "refresh_token" not in data
    table = run("refresh", "p", "-f", "table").stdout
    assert "expires at" in table and "the-token" not in table
    assert_clean_failure(run("refresh", "p", "-f", "yaml"), 2, "unknown format 'yaml'")


def test_json_never_contains_the_refresh_token(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    out = run("refresh", "p", "-f", "json").stdout
    assert "rt-rotated" not in out and "rt-initial" not in out


# --- several profiles -------------------------------------------------------------------------


@pytest.mark.slow
def test_several_profiles_run_concurrently_and_failures_do_not_hide_results(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/ok", Response(200, {"access_token": "ok-token"}, delay=0.5))
    server.reply("/refused", Response(400, {"error": "invalid_grant"}))
    server.reply("/down", Response(503, b""))
    profiles_file({f"ok{i}": {"token_url": server.url("/ok")} for i in range(4)}
                  | {"refused": {"token_url": server.url("/refused")},
                     "down": {"token_url": server.url("/down")}})  # fmt: skip
    result = run("refresh", "--all")
    assert result.code == 5, result  # the worst of 4 and 5
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["profile"] for line in lines if "access_token" in line) == [
        "ok0", "ok1", "ok2", "ok3"]  # fmt: skip
    failed = {line["profile"]: line["exit_code"] for line in lines if "error" in line}
    assert failed == {"refused": 4, "down": 5}  # a line per profile, the failed ones as errors
    assert "error: refused: " in result.stderr and "error: down: " in result.stderr
    assert "invalid_grant" in result.stderr


def test_concurrency_is_real(profiles_file: Any, server: LoopbackServer) -> None:
    """Observed at the server (no timed assertion): requests overlap."""
    import threading
    import time

    lock, in_flight, most = threading.Lock(), [0], [0]

    def slow(request: Request) -> Response:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.3)
        with lock:
            in_flight[0] -= 1
        return Response(200, {"access_token": "slow"})

    server.route("/slow", slow)
    profiles_file({f"s{i}": {"token_url": server.url("/slow")} for i in range(10)})
    result = run("refresh", "--all", "-f", "token")
    assert result.code == 0 and result.stdout == "slow\n" * 10
    assert most[0] >= 5, most  # sequential would never exceed 1


def test_refresh_usage_errors(profiles_file: Any) -> None:
    profiles_file()
    assert_clean_failure(run("refresh"), 2, "missing argument PROFILE")
    assert_clean_failure(run("refresh", "p", "--all"), 2, "not both")


def test_unknown_option_is_usage_error() -> None:
    result = run("refresh", "--bogus")
    assert result.code == 2 and result.stdout == ""
    assert "No such option" in result.stderr


# --- dry run, show, list, check ---------------------------------------------------------------


def test_dry_run_sends_nothing_and_redacts(profiles_file: Any, server: LoopbackServer) -> None:
    profiles_file()
    result = run("refresh", "p", "--dry-run")
    assert result.code == 0 and server.requests == []
    assert result.stdout.startswith(f"POST {server.url('/token')}\n")
    assert "client_secret=****9f8e" in result.stdout and PLANTED not in result.stdout
    assert "rt-initial-0001" not in result.stdout


def test_show_redacts_and_reports_unresolved(
    profiles_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOW_SECRET", "env-secret-value-1234")
    profiles_file(
        {"p": {"headers": {"X-Key": "${env:SHOW_SECRET}", "X-Other": "${env:NOPE_UNSET}"}}}
    )
    result = run("show", "p")
    assert result.code == 0, result
    shown = yaml.safe_load(result.stdout)
    assert shown["body"]["client_secret"] == "****9f8e"
    assert shown["headers"]["X-Key"] == "****1234  (from ${env:SHOW_SECRET})"
    assert "unresolved" in shown["headers"]["X-Other"]
    assert "env-secret-value" not in result.stdout and PLANTED not in result.stdout


def test_check_example_file_passes_with_warnings() -> None:
    result = run("check", "-c", str(ROOT / "profiles.example.yaml"))
    assert result.code == 0, result
    assert result.stdout.splitlines()[-1].endswith(
        "0 errors, " + result.stdout.splitlines()[-1].split(", ")[-1]
    )
    assert (
        "warning: google: field auth.client_secret: environment variable GOOGLE_CLIENT_SECRET is not set"
        in result.stdout
    )
    profiles = yaml.safe_load((ROOT / "profiles.example.yaml").read_text())["profiles"]
    assert len(profiles) >= 12


def test_check_strict_and_findings(tmp_path: Path) -> None:
    path = write_profiles(tmp_path / "c.yaml", {
        "remote": {"token_url": "http://auth.example.com/token"},
        "unset": {"token_url": "https://x/t", "body": {"s": "${env:CHECK_UNSET}"}},
        "bad": {"token_url": "https://x/t", "timeout": "x"},
        "norotate": {"token_url": "https://x/t", "refresh_token": "r", "body": {"refresh_token": "r"}},
    })  # fmt: skip
    result = run("-c", str(path), "check")
    assert result.code == 1
    assert "error: remote: token_url uses plain http:// to auth.example.com" in result.stdout
    assert (
        "warning: unset: field body.s: environment variable CHECK_UNSET is not set" in result.stdout
    )
    assert "error: bad:" in result.stdout and "field timeout" in result.stdout
    assert (
        "warning: norotate: refresh_token is set but the body never uses ${refresh_token}"
        in result.stdout
    )
    strict = run("-c", str(path), "check", "--strict")
    assert "error: unset: field body.s" in strict.stdout


def test_list_table_and_json(profiles_file: Any) -> None:
    profiles_file({"a": {"description": "first"}, "b": {"method": "put"}})
    rows = [json.loads(line) for line in run("list").stdout.splitlines()]
    assert [(r["profile"], r["method"], r["description"], r["status"]) for r in rows] == [
        ("a", "POST", "first", "none"), ("b", "PUT", "", "none")]  # fmt: skip
    table = run("list", "-f", "table").stdout
    assert "token URL" in table and "first" in table


# --- global options, entry points -------------------------------------------------------------


def test_version_and_module_entry_point() -> None:
    assert run("--version").stdout == f"oauthcli {__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "oauthcli", "--version"], capture_output=True, text=True
    )
    assert done.stdout == f"oauthcli {__version__}\n"


def test_quiet_silences_notes(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    run("refresh", "p")
    assert run("forget", "p", "--yes").stderr != ""
    run("refresh", "p")
    assert run("-q", "forget", "p", "--yes").stderr == ""


def test_console_script_contract(profiles_file: Any, server: LoopbackServer) -> None:
    token_endpoint(server, "script-token")
    profiles_file()
    result = run_script("token", "p", "-f", "header")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        "Authorization: Bearer script-token\n",
        "",
    )
    failure = run_script("token", "nope")
    assert_clean_failure(failure, 3, "unknown profile 'nope'")


def test_progress_is_drawn_only_on_a_terminal(profiles_file: Any, server: LoopbackServer) -> None:
    import pty

    token_endpoint(server)
    profiles_file({"a": {}, "b": {}})
    master, slave = pty.openpty()
    proc = subprocess.Popen([SCRIPT, "refresh", "a", "b", "-f", "token"], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "TERM": "xterm"})  # fmt: skip
    os.close(slave)
    out, _ = proc.communicate(timeout=30)
    drawn = b""
    try:
        while chunk := os.read(master, 65536):
            drawn += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0 and out == b"the-token\nthe-token\n"
    assert b"\x1b[" in drawn  # a live display was drawn on the terminal
    assert run("refresh", "a", "b", "-f", "token").stderr == ""  # and never when not a terminal
