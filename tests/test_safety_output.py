"""Issue 11, everyday safety for scripts: a failed `env` cannot be evaluated into success, and
several profiles keep their output's shape when one fails.

`eval "$(oauthcli env p)"` evaluates whatever stdout holds, and an empty string evaluates
successfully whatever oauthcli's exit status was. So a failed `env` prints a statement that
fails in the shell it was asked for (SPEC §13). The shell tests run the installed console script
inside real bash, dash, zsh and fish, against a rotating loopback provider and against a real
django-oauth-toolkit server, with a refresh that fails; each asserts that the script stopped (or
saw a non-zero status), that the error line reached stderr, and that no secret leaked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oauthcli.export.shellnames import failure_statement
from tests.conftest import PLANTED, SCRIPT, Result, assert_clean_failure, run, write_profiles
from tests.server import LoopbackServer, Response, RotatingProvider

DEAD = "rt-dead-0000"  # a refresh token the provider refuses: invalid_grant


def assert_failed_env(result: Result, code: int, *fragments: str, shell: str = "sh",
                      secrets: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Exit code and one `error:` line as for any failure; stdout only the failing statement."""
    assert result.stdout == failure_statement(shell), result
    assert_clean_failure(Result(result.code, "", result.stderr), code, *fragments,
                         secrets=secrets)  # fmt: skip


def in_shell(argv: list[str], script: str, env: dict[str, str] | None = None) -> Result:
    """Run ``script`` in a real shell; ``$OAUTHCLI`` is the installed console script."""
    name = argv[0]
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    done = subprocess.run(
        [*argv, script], capture_output=True, text=True, timeout=60,
        env={**os.environ, "OAUTHCLI": SCRIPT, **(env or {})},
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


POSIX = {"bash": ["bash", "--norc", "--noprofile", "-c"], "dash": ["dash", "-c"],
         "zsh": ["zsh", "-f", "-c"]}  # fmt: skip
FISH = ["fish", "--no-config", "-c"]


@pytest.fixture
def dead(rotating: RotatingProvider, profiles_file: Any) -> None:
    """Profile `p` whose refresh is refused (invalid_grant, exit 4)."""
    profiles_file({"p": {"refresh_token": DEAD}})


# --- item 1: the failing statement, per shell -------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "statement"),
    [("sh", "false\n"), ("bash", "false\n"), ("zsh", "false\n"), ("fish", "false\n"),
     ("powershell", "throw 'oauthcli env failed: see the error above'\n"),
     ("cmd", "cmd /c exit 1\n"), ("dotenv", ""), ("json", ""), ("gitlab", "")],
)  # fmt: skip
def test_failed_env_prints_a_failing_statement_for_its_shell(
    dead: None, shell: str, statement: str
) -> None:
    result = run("env", "p", "--shell", shell)
    assert result.stdout == statement
    assert_failed_env(result, 4, "invalid_grant", shell=shell, secrets=(DEAD,))


def test_failed_env_for_github_prints_nothing_and_appends_nothing(
    dead: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    monkeypatch.setenv("GITHUB_ENV", str(github_env))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run("env", "p", "--shell", "github")
    assert_failed_env(result, 4, "invalid_grant", shell="github", secrets=(DEAD,))
    assert github_env.read_text() == ""


@pytest.mark.parametrize(
    ("args", "code", "shell"),
    [(("env",), 2, "sh"),                                   # missing profile: click's error
     (("env", "p", "--no-such-option"), 2, "sh"),
     (("env", "p", "--shell", "fish", "--no-such-option"), 2, "fish"),
     (("env", "p", "-spowershell", "--no-such-option"), 2, "powershell"),
     (("env", "p", "--shell=cmd", "--force", "--force=x"), 2, "cmd"),
     (("env", "nosuch"), 3, "sh"),                          # unknown profile
     (("env", "p", "--shell", "tcsh"), 2, "sh"),            # unknown shell: sh's false
     (("-c", "/nonexistent/profiles.yaml", "env", "p"), 3, "sh")],
)  # fmt: skip
def test_every_kind_of_env_failure_prints_the_statement(
    dead: None, args: tuple[str, ...], code: int, shell: str
) -> None:
    """Usage errors happen before the command body: the one error ladder adds the statement."""
    assert_failed_env(run(*args), code, shell=shell)


def test_an_internal_error_in_env_also_fails_the_evaluation(
    dead: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oauthcli.grants import driver

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(driver, "obtain", broken)
    result = run("env", "p")
    assert (result.code, result.stdout) == (70, "false\n"), result
    assert result.stderr.startswith("error: internal error: RuntimeError: a bug")


def test_other_commands_print_no_statement(dead: None) -> None:
    assert_clean_failure(run("token", "p"), 4, "invalid_grant")
    assert_clean_failure(run("refresh", "p", "-f", "json"), 4, "invalid_grant")


def test_a_successful_env_prints_no_statement(rotating: RotatingProvider, profiles_file: Any) -> None:
    profiles_file()
    result = run("env", "p")
    assert result.code == 0, result
    assert "false" not in result.stdout and result.stdout.startswith("export ACCESS_TOKEN=")


# --- item 1 in the real shells ----------------------------------------------------------------

SET_E = 'set -e\neval "$("$OAUTHCLI" env p --shell {shell})"\necho REACHED'
STATUS = 'eval "$("$OAUTHCLI" env p --shell {shell})"\necho "status=$?"'


@pytest.mark.parametrize("shell", sorted(POSIX))
def test_set_e_stops_at_a_failed_env(dead: None, shell: str) -> None:
    spelled = "sh" if shell == "dash" else shell  # --shell bash / zsh are sh (item 2)
    done = in_shell(POSIX[shell], SET_E.format(shell=spelled))
    assert done.code != 0, done
    assert "REACHED" not in done.stdout
    assert done.stderr.startswith("error: ") and "invalid_grant" in done.stderr, done
    assert PLANTED not in done.stderr + done.stdout and DEAD not in done.stderr + done.stdout


@pytest.mark.parametrize("shell", sorted(POSIX))
def test_without_set_e_the_status_is_non_zero(dead: None, shell: str) -> None:
    done = in_shell(POSIX[shell], STATUS.format(shell="sh"))
    assert done.stdout == "status=1\n", done
    assert "invalid_grant" in done.stderr


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh"])
def test_a_shell_started_with_dash_e_stops_at_a_failed_env(dead: None, shell: str) -> None:
    done = in_shell([shell, "-e", "-c"], 'eval "$("$OAUTHCLI" env p)"\necho REACHED')
    assert done.code == 1 and "REACHED" not in done.stdout, done
    assert done.stderr.startswith("error: ") and "invalid_grant" in done.stderr


def test_zsh_errexit_set_by_option_stops_too(dead: None) -> None:
    done = in_shell(POSIX["zsh"], 'setopt errexit\neval "$("$OAUTHCLI" env p)"\necho REACHED')
    assert done.code != 0 and "REACHED" not in done.stdout, done


@pytest.mark.slow
def test_fish_source_and_eval_see_the_failure(dead: None) -> None:
    done = in_shell(FISH, '$OAUTHCLI env p --shell fish | source\necho "status=$status"')
    assert done.stdout == "status=1\n", done
    assert "invalid_grant" in done.stderr
    done = in_shell(FISH, '$OAUTHCLI env p --shell fish | source; or exit 3\necho REACHED')
    assert done.code == 3 and "REACHED" not in done.stdout, done
    done = in_shell(FISH, 'eval ($OAUTHCLI env p --shell fish)\necho "status=$status"')
    assert done.stdout == "status=1\n", done


@pytest.mark.parametrize("shell", [*sorted(POSIX), "fish"])
def test_the_success_path_still_exports_in_every_shell(
    rotating: RotatingProvider, profiles_file: Any, shell: str
) -> None:
    profiles_file()
    if shell == "fish":
        done = in_shell(FISH, '$OAUTHCLI env p --shell fish | source\nprintf %s "$ACCESS_TOKEN"')
    else:
        done = in_shell(POSIX[shell], 'set -e\neval "$("$OAUTHCLI" env p --shell bash)"\n'
                                      'printf %s "$ACCESS_TOKEN"')  # fmt: skip
    assert (done.code, done.stdout) == (0, "at-0001-abcdefgh"), done


def test_a_failure_of_one_profile_exports_none_of_them(
    server: LoopbackServer, rotating: RotatingProvider, profiles_file: Any
) -> None:
    """`env a b` is all or nothing: a's token is not half-exported when b fails (item 7)."""
    profiles_file({"ok": {}, "dead": {"refresh_token": DEAD}})
    script = ('eval "$("$OAUTHCLI" env ok dead --prefix "{PROFILE}_")"\n'
              'echo "status=$? ok=${OK_ACCESS_TOKEN-unset}"')  # fmt: skip
    done = in_shell(POSIX["bash"], script)
    assert done.stdout == "status=1 ok=unset\n", done
    assert done.stderr.count("error: ") == 1 and "invalid_grant" in done.stderr
    result = run("env", "ok", "dead", "--prefix", "{PROFILE}_")
    assert_failed_env(result, 4, "invalid_grant", secrets=("at-0001-abcdefgh",))


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh", "fish"])
def test_a_refresh_refused_by_a_real_server_stops_the_script(
    auth_server: Any, tmp_path: Path, shell: str
) -> None:
    """django-oauth-toolkit refuses a refresh token it rotated away (invalid_grant)."""
    client = auth_server.clients["basic"]
    refresh_token = auth_server.mint_refresh_token("basic")
    assert auth_server.refresh(refresh_token).status_code == 200  # rotated: now dead
    profiles = {"p": {"token_url": auth_server.token_url, "retries": 0,
                      "auth": {"type": "basic", "client_id": client.client_id,
                               "client_secret": "${env:CSECRET}"},
                      "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"},
                      "refresh_token": "${env:RT}"}}  # fmt: skip
    path = write_profiles(tmp_path / "dot.yaml", profiles)
    env = {"OAUTHCLI_CONFIG": str(path), "CSECRET": client.client_secret, "RT": refresh_token}
    if shell == "fish":
        done = in_shell(FISH, '$OAUTHCLI env p --shell fish | source; or exit 9\necho REACHED', env)
        assert done.code == 9, done
    else:
        done = in_shell(POSIX[shell], SET_E.format(shell="sh"), env)
        assert done.code != 0, done
    assert "REACHED" not in done.stdout
    assert done.stderr.startswith("error: ") and "invalid_grant" in done.stderr, done
    for secret in (client.client_secret, refresh_token):
        assert secret not in done.stdout + done.stderr


# --- item 2: bash and zsh are sh --------------------------------------------------------------


@pytest.mark.parametrize("alias", ["bash", "zsh", "dash", "ksh"])
def test_posix_shell_names_are_accepted_as_sh(
    rotating: RotatingProvider, profiles_file: Any, alias: str
) -> None:
    profiles_file()
    sh = run("env", "p", "--shell", "sh")
    aliased = run("env", "p", "-s", alias)
    assert aliased.code == 0, aliased
    assert aliased.stdout.splitlines()[0] == sh.stdout.splitlines()[0] == (
        "export ACCESS_TOKEN='at-0001-abcdefgh'")  # fmt: skip
    assert aliased.stdout.splitlines()[1:] == ["export TOKEN_TYPE='Bearer'",
                                               aliased.stdout.splitlines()[2]]  # fmt: skip
    assert aliased.stdout.splitlines()[2].startswith("export ACCESS_TOKEN_EXPIRES_AT='")
    assert aliased.stderr == ""


def test_pwsh_is_powershell(rotating: RotatingProvider, profiles_file: Any) -> None:
    profiles_file()
    result = run("env", "p", "--shell", "pwsh")
    assert result.stdout.startswith("$Env:ACCESS_TOKEN = 'at-0001-abcdefgh'\n"), result


# --- item 7: several profiles keep the output's shape -----------------------------------------


@pytest.fixture
def mixed(server: LoopbackServer, profiles_file: Any) -> None:
    """`a` and `c` refresh (each at its own rotating endpoint); `b` is refused (exit 4)."""
    server.reply("/refused", Response(400, {"error": "invalid_grant",
                                            "error_description": "the grant is gone"}))  # fmt: skip
    for name in ("a", "c"):
        server.route(f"/{name}", RotatingProvider())
    profiles_file({"a": {"token_url": server.url("/a")}, "b": {"token_url": server.url("/refused")},
                   "c": {"token_url": server.url("/c")}})  # fmt: skip


def lines_of(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_one_error_line_for_b(result: Result) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: b: 127.0.0.1 refused the request: invalid_grant: the grant is gone "
                      "(HTTP 400)"], result  # fmt: skip
    assert PLANTED not in result.stdout + result.stderr


@pytest.mark.parametrize("fmt", [("-f", "json"), ()])  # JSON lines are the default off a terminal
def test_json_lines_carry_an_error_object_in_the_failed_profiles_place(
    mixed: None, fmt: tuple[str, ...]
) -> None:
    result = run("refresh", "a", "b", "c", *fmt)
    assert result.code == 4, result
    lines = lines_of(result)
    assert [line["profile"] for line in lines] == ["a", "b", "c"]  # the order asked
    assert lines[1] == {"profile": "b", "exit_code": 4,
                        "error": "127.0.0.1 refused the request: invalid_grant: the grant is gone "
                                 "(HTTP 400)",
                        "hint": lines[1]["hint"]}  # fmt: skip
    assert "refresh token is dead" in lines[1]["hint"]
    assert lines[0]["access_token"].startswith("at-") and lines[2]["access_token"].startswith("at-")
    assert "error" not in lines[0] and "error" not in lines[2]
    assert_one_error_line_for_b(result)


def test_order_follows_the_command_line(mixed: None) -> None:
    result = run("refresh", "b", "c", "a", "-f", "json")
    assert [line["profile"] for line in lines_of(result)] == ["b", "c", "a"]


def test_token_and_header_formats_leave_an_empty_line(mixed: None) -> None:
    result = run("refresh", "a", "b", "c", "-f", "token")
    assert result.code == 4
    assert result.stdout.split("\n") == [result.stdout.split("\n")[0], "",
                                         result.stdout.split("\n")[2], ""]  # fmt: skip
    assert result.stdout.split("\n")[0].startswith("at-")
    assert_one_error_line_for_b(result)
    header = run("refresh", "a", "b", "-f", "header")
    assert header.stdout.split("\n")[1:] == ["", ""] and header.stdout.startswith("Authorization:")


def test_a_table_has_a_failed_row(mixed: None) -> None:
    result = run("refresh", "a", "b", "c", "-f", "table")
    assert result.code == 4
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["a", "b", "c"]
    assert "failed" in rows[1] and "****" not in rows[1]
    assert_one_error_line_for_b(result)


def test_all_failing_still_gives_one_line_each(server: LoopbackServer, profiles_file: Any) -> None:
    server.reply("/down", Response(503, b""))
    server.reply("/refused", Response(400, {"error": "invalid_client"}))
    profiles_file({"x": {"token_url": server.url("/down")},
                   "y": {"token_url": server.url("/refused")}})  # fmt: skip
    result = run("refresh", "--all", "-f", "json")
    assert result.code == 5  # the worst
    assert [(line["profile"], line["exit_code"]) for line in lines_of(result)] == [("x", 5), ("y", 4)]
    assert len([line for line in result.stderr.splitlines() if line.startswith("error: ")]) == 2


def test_one_failing_profile_alone_is_a_plain_failure(mixed: None) -> None:
    """A single profile has no shape to keep: the failure is the ordinary one."""
    assert_clean_failure(run("refresh", "b", "-f", "json"), 4, "invalid_grant")


def test_on_a_terminal_nothing_is_evaluated_so_no_statement(dead: None) -> None:
    """A person who types `oauthcli env p` sees the error, not a stray `false`."""
    from tests.test_safety_output_checks import in_terminal

    code, shown = in_terminal(["env", "p"], "")
    assert code == 4 and "invalid_grant" in shown
    assert "false" not in shown
