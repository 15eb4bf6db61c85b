"""End-to-end proofs for `oauthcli env` and `oauthcli exec` (SPEC §3, §4; issue 4).

Everything here goes through the CLI against a real loopback token endpoint: the in-process
runner `run()` for `env`/`token` (fast), and the installed console script for `exec` (it
replaces the process, so it must never run inside pytest). The quoting functions themselves are
unit-tested in test_export_shells.py and test_export.py; these tests prove the whole path from a
token server's answer to what a real shell, a GitHub runner or a child process ends up holding.

Shells are run without rc files, with a UTF-8 locale, in an empty temporary directory; a shell
that is not installed is skipped with a reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import SCRIPT, Result, assert_clean_failure, run, run_script
from tests.server import LoopbackServer, Request, Response

CANARY = "PWNED"
TOKEN = "tok-abc123"
INJECTIONS = [
    f"x'; touch {CANARY}; echo '",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"first line\ntouch {CANARY}\nlast line",
]


def assert_env_failure(result: Result, code: int, *fragments: str, secrets: tuple[str, ...] = (),
                       shell: str = "sh") -> None:  # fmt: skip
    """A failed `env` (SPEC §13): one error line on stderr; stdout holds only the statement
    that makes the evaluating shell fail (``false`` …; nothing for the data formats)."""
    from oauthcli.export.shellnames import failure_statement

    assert result.stdout == failure_statement(shell), result
    assert_clean_failure(Result(result.code, "", result.stderr), code, *fragments, secrets=secrets)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def server(shared_server: LoopbackServer) -> LoopbackServer:
    """Overrides conftest's `server`: one loopback server for this module (stopping one waits
    for its 0.5 s poll), with routes and recorded requests reset for every test."""
    shared_server.routes.clear()
    with shared_server._lock:
        shared_server.requests.clear()
    return shared_server


class TokenEndpoint:
    """A token endpoint answering with whatever access token the test sets."""

    def __init__(self, value: str = TOKEN) -> None:
        self.value = value
        self.extra: dict[str, Any] = {}

    def __call__(self, request: Request) -> Response:
        body = {"access_token": self.value, "token_type": "Bearer", "expires_in": 3600}
        return Response(200, {**body, **self.extra})


@pytest.fixture
def endpoint(server: LoopbackServer, profiles_file: Any) -> TokenEndpoint:
    """Profile `p` pointing at a /token route that returns `endpoint.value`."""
    handler = TokenEndpoint()
    server.route("/token", handler)
    profiles_file()
    return handler


SH_SHELLS = {
    "bash": ["bash", "--norc", "--noprofile", "-c"],
    "dash": ["dash", "-c"],
    "zsh": ["zsh", "-f", "-c"],
}
FISH = ["fish", "--no-config", "-c"]
ALL_SHELLS = {**SH_SHELLS, "fish": FISH}
# The format `env` is asked for, and how the shell loads it (the way users do).
LOADERS = {
    "bash": ("sh", 'eval "$(cat ./vars)"'),
    "dash": ("sh", 'eval "$(cat ./vars)"'),
    "zsh": ("sh", 'eval "$(cat ./vars)"'),
    "fish": ("fish", "source ./vars"),
}


def shell_argv(shell: str) -> list[str]:
    argv = ALL_SHELLS[shell]
    path = shutil.which(argv[0])
    if path is None:
        pytest.skip(f"{argv[0]} is not installed (apt-get install {argv[0]})")
    return [path, *argv[1:]]


def read_back(
    shell: str,
    text: str,
    names: list[str],
    load: str | None = None,
    strict: bool = True,
    child: bool = True,
) -> tuple[dict[str, str], subprocess.CompletedProcess[bytes]]:
    """Load ``text`` in ``shell`` (in an empty directory) and return each variable's value.

    With ``child`` each value is written back by a child process (`sh -c`), which also proves
    it was exported; else by the shell's own printf (faster, for property tests). Asserts that
    the directory holds nothing but what we wrote: no canary.
    """
    argv = shell_argv(shell)
    load = load or LOADERS[shell][1]
    write = "sh -c 'printf %s \"${0}\"' > out_{0}" if child else 'printf %s "${0}" > out_{0}'
    writes = "; ".join(write.format(n) for n in names)
    with tempfile.TemporaryDirectory() as root:
        home, work = Path(root, "home"), Path(root, "work")
        home.mkdir()
        work.mkdir()
        Path(work, "vars").write_bytes(text.encode("utf-8"))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "LC_ALL": "C.UTF-8"}  # fmt: skip
        done = subprocess.run(
            [*argv, f"{load}; {writes}"], cwd=work, env=env, capture_output=True, timeout=30
        )
        created = set(os.listdir(work))
        assert CANARY not in created, f"{shell} executed part of a token: {done!r}"
        if strict:
            assert done.returncode == 0, done.stderr.decode(errors="replace")
            assert done.stderr == b"", done.stderr.decode(errors="replace")
        assert created <= {"vars", *(f"out_{n}" for n in names)}, created
        values = {
            n: Path(work, f"out_{n}").read_bytes().decode("utf-8")
            for n in names
            if Path(work, f"out_{n}").exists()
        }
        return values, done


def env_output(*args: str) -> str:
    result = run(*args)
    assert result.code == 0, result
    assert result.stderr == "", result
    return result.stdout


def parse_github_env(text: str) -> dict[str, str]:
    """The `$GITHUB_ENV` grammar GitHub documents, read the way the Linux runner reads it.

    Lines end at LF and empty lines are skipped. `NAME=value` when a `=` comes before any `<<`;
    otherwise `NAME<<DELIMITER`, and the value is every line up to the first line that equals
    DELIMITER, joined with LF. A missing delimiter, empty name or empty delimiter is an error.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line == "":
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
        else:
            assert heredoc > 0, f"invalid line {line!r}"
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            assert delimiter, f"empty delimiter in {line!r}"
            try:
                end = lines.index(delimiter, index)
            except ValueError:
                raise AssertionError(f"delimiter {delimiter!r} never closes") from None
            value = "\n".join(lines[index:end])
            index = end + 1
        assert name, f"empty name in {line!r}"
        values[name] = value
    return values


def unescape_mask(data: str) -> str:
    """Workflow-command data as the runner decodes it."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def expiry_candidates(before: float, after: float) -> set[str]:
    from oauthcli.token import iso8601

    return {str(iso8601(t)) for t in range(int(before) + 3600, int(after) + 3602)}


def run_bytes(
    *args: str, stdin: bytes = b"", timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """The installed console script, bytes in and out (for `exec`)."""
    return subprocess.run([SCRIPT, *args], input=stdin, capture_output=True, timeout=timeout)


# --------------------------------------------------------------------------- any value round-trips

# The whole of Unicode except NUL and lone surrogates (which no environment variable or UTF-8
# stream can carry), weighted towards what means something to a shell, plus whole injections.
token_values = st.lists(
    st.one_of(
        st.characters(codec="utf-8", exclude_characters="\0"),
        st.sampled_from(list("'\"\\$`!;|&<>(){}*?~#% \n\t\r’")),
        st.sampled_from([*INJECTIONS, "'\\''", "\\'", "$HOME", "${IFS}", "!!", "-e", "--"]),
    ),
    min_size=1,
    max_size=25,
).map("".join)

property_settings = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@pytest.mark.parametrize("shell", list(ALL_SHELLS))
@property_settings
@given(value=token_values)
@example(value="-e")
@example(value="--help")
@example(value="ends with a backslash\\")
@example(value=" leading and trailing spaces ")
@example(value="é€😀\u2028\x1b[31m")
def test_any_token_from_the_server_reads_back_exactly_in_a_real_shell(
    shell: str, value: str, endpoint: TokenEndpoint
) -> None:
    shell_argv(shell)
    endpoint.value = value
    fmt, _ = LOADERS[shell]
    text = env_output("env", "p", "--shell", fmt, "--force")
    values, _ = read_back(shell, text, ["ACCESS_TOKEN", "TOKEN_TYPE"], child=False)
    assert values == {"ACCESS_TOKEN": value, "TOKEN_TYPE": "Bearer"}


@pytest.mark.parametrize("shell", list(ALL_SHELLS))
@pytest.mark.parametrize("value", INJECTIONS)
def test_injected_commands_are_never_executed(
    shell: str, value: str, endpoint: TokenEndpoint
) -> None:
    endpoint.value = value
    text = env_output("env", "p", "--shell", LOADERS[shell][0])
    values, _ = read_back(shell, text, ["ACCESS_TOKEN"])
    assert values == {"ACCESS_TOKEN": value}


@pytest.mark.parametrize("shell", list(SH_SHELLS))
def test_sourcing_the_sh_output_from_a_file_works_too(shell: str, endpoint: TokenEndpoint) -> None:
    endpoint.value = INJECTIONS[1]
    text = env_output("env", "p")  # sh is the default
    values, _ = read_back(shell, text, ["ACCESS_TOKEN"], load=". ./vars")
    assert values == {"ACCESS_TOKEN": INJECTIONS[1]}


@pytest.mark.parametrize("value", INJECTIONS)
def test_dotenv_output_sourced_by_bash_executes_nothing(
    value: str, endpoint: TokenEndpoint
) -> None:
    endpoint.value = value
    text = env_output("env", "p", "--shell", "dotenv")
    values, _ = read_back("bash", text, ["ACCESS_TOKEN"], load="set -a; . ./vars; set +a")
    if "\n" not in value:
        assert values == {"ACCESS_TOKEN": value}
    else:  # a shell does not decode dotenv's \n escape; what matters is that nothing ran
        assert CANARY in values["ACCESS_TOKEN"]


def test_eval_of_the_installed_script_in_bash(endpoint: TokenEndpoint) -> None:
    """The documented one-liner, verbatim, through the real console script."""
    endpoint.value = INJECTIONS[0]
    argv = shell_argv("bash")
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run(
            [*argv, f'eval "$({SCRIPT} env p)"; printf %s "$ACCESS_TOKEN"'],
            cwd=work, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert os.listdir(work) == []
    assert (done.returncode, done.stdout, done.stderr) == (0, INJECTIONS[0], "")


# --------------------------------------------------------------------------- GitHub Actions


@pytest.fixture
def github_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "github_env"
    path.write_text("EARLIER=kept\n")
    monkeypatch.setenv("GITHUB_ENV", str(path))
    return path


def assert_only_masks(stdout: str, secret_values: list[str]) -> None:
    """Every line (as the runner splits them: LF, CR, CRLF) is an ``::add-mask::`` command, and
    they mask each secret whole and line by line (GitHub masks log lines one at a time)."""
    assert stdout.endswith("\n") and "\r" not in stdout, stdout
    lines = stdout[:-1].split("\n")
    assert all(line.startswith("::add-mask::") for line in lines), stdout
    masked = {unescape_mask(line[len("::add-mask::") :]) for line in lines}
    for value in secret_values:
        assert value in masked, (value, stdout)
        for part in re.split(r"\r\n|\r|\n", value):
            if part.strip():
                assert part in masked, (part, stdout)
    assert (
        not masked
        - {"", *secret_values}
        - {p for v in secret_values for p in re.split(r"\r\n|\r|\n", v)}
    ), stdout


@pytest.mark.parametrize(
    "value",
    [
        TOKEN,
        "two\nlines",
        "NAME=value",
        "x<<EOF\nEOF\nINJECTED=1",
        "ghadelimiter_0123456789abcdef\nINJECTED=1",
        "50% off\r\nCRLF",
        INJECTIONS[1],
    ],
)
def test_github_appends_exact_values_and_stdout_holds_only_masks(
    value: str, endpoint: TokenEndpoint, github_env: Path
) -> None:
    endpoint.value = value
    result = run("env", "p", "--shell", "github")
    assert result.code == 0 and result.stderr == "", result
    assert_only_masks(result.stdout, [value])
    parsed = parse_github_env(github_env.read_bytes().decode("utf-8"))
    assert set(parsed) == {"EARLIER", "ACCESS_TOKEN", "TOKEN_TYPE", "ACCESS_TOKEN_EXPIRES_AT"}
    assert (parsed["EARLIER"], parsed["ACCESS_TOKEN"], parsed["TOKEN_TYPE"]) == (
        "kept", value, "Bearer",
    )  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", parsed["ACCESS_TOKEN_EXPIRES_AT"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=token_values)
def test_github_env_round_trips_any_value(
    value: str, endpoint: TokenEndpoint, github_env: Path
) -> None:
    endpoint.value = value
    github_env.write_text("")
    result = run("env", "p", "--shell", "github", "--force")
    assert result.code == 0 and result.stderr == "", result
    if value.strip():
        assert_only_masks(result.stdout, [value])
    assert parse_github_env(github_env.read_bytes().decode("utf-8"))["ACCESS_TOKEN"] == value


def test_github_without_github_env_is_a_config_error(
    endpoint: TokenEndpoint, server: LoopbackServer
) -> None:
    result = run("env", "p", "--shell", "github")
    assert_env_failure(result, 3, "GITHUB_ENV", secrets=(TOKEN,), shell="github")
    assert server.hits("/token") == []  # refused before anything was fetched


def test_github_env_is_untouched_when_a_profile_fails(
    server: LoopbackServer, profiles_file: Any, github_env: Path
) -> None:
    server.route("/token", TokenEndpoint())
    server.reply("/dead", Response(400, {"error": "invalid_grant"}))
    profiles_file({"p": {}, "dead": {"token_url": server.url("/dead")}})
    result = run("env", "p", "dead", "--shell", "github", "--prefix", "{PROFILE}_")
    assert_env_failure(result, 4, "invalid_grant", secrets=(TOKEN,), shell="github")
    assert github_env.read_text() == "EARLIER=kept\n"


@pytest.mark.parametrize("value", [TOKEN, "p%41ss"])
def test_github_actions_token_prints_the_mask_before_the_value(
    value: str, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    endpoint.value = value
    result = run("token", "p")
    escaped = value.replace("%", "%25")
    # The mask goes to stderr (the runner parses it there too): on stdout it would end up
    # inside $(oauthcli token p). It is written and flushed before the value.
    assert (result.code, result.stdout) == (0, f"{value}\n"), result
    assert result.stderr == f"::add-mask::{escaped}\n"


def test_github_actions_env_sh_prints_the_mask_before_the_value(
    endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run("env", "p", "--shell", "sh")
    assert result.code == 0, result
    assert f"export ACCESS_TOKEN='{TOKEN}'" in result.stdout.splitlines()
    assert "::" not in result.stdout  # eval-able output stays pure
    # only secrets are masked: the token type and expiry are not
    assert result.stderr.splitlines() == [f"::add-mask::{TOKEN}"]


def test_without_github_actions_there_are_no_masks(endpoint: TokenEndpoint) -> None:
    assert "::add-mask::" not in env_output("env", "p") + run("token", "p").stdout


@pytest.mark.parametrize("shell", list(ALL_SHELLS))
def test_github_actions_env_output_is_still_safe_to_eval(
    shell: str, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    endpoint.value = INJECTIONS[1]
    result = run("env", "p", "--shell", LOADERS[shell][0])
    assert result.code == 0, result
    values, _ = read_back(shell, result.stdout, ["ACCESS_TOKEN"])
    assert values == {"ACCESS_TOKEN": INJECTIONS[1]}


# --------------------------------------------------------------------------- export mapping, prefixes


def test_export_mapping_with_custom_names_and_a_dotted_path(
    server: LoopbackServer, profiles_file: Any
) -> None:
    handler = TokenEndpoint()
    handler.extra = {"data": {"instance_url": "https://acme.my.example.com/x?a=1&b='2'"}}
    server.route("/token", handler)
    export = {"MY_TOKEN": "access_token", "INSTANCE_URL": "data.instance_url", "KIND": "token_type"}
    profiles_file({"p": {"export": export}})
    expected = {"MY_TOKEN": TOKEN, "INSTANCE_URL": handler.extra["data"]["instance_url"],
                "KIND": "Bearer"}  # fmt: skip
    assert json.loads(env_output("env", "p", "--shell", "json")) == expected
    values, _ = read_back("bash", env_output("env", "p"), list(expected))
    assert values == expected
    # the default names are replaced, not added to
    assert "ACCESS_TOKEN" not in env_output("env", "p")


@pytest.mark.parametrize(
    "name", ["1BAD", "BAD-NAME", "A B", f"X;touch {CANARY}", "X$(id)", "ÉTÉ", "A=B"]
)
def test_invalid_export_name_is_a_config_error(
    name: str, server: LoopbackServer, profiles_file: Any
) -> None:
    server.route("/token", TokenEndpoint())
    profiles_file({"p": {"export": {name: "access_token"}}})
    for shell in ("sh", "fish", "dotenv", "json"):
        result = run("env", "p", "--shell", shell)
        assert_env_failure(result, 3, "invalid environment variable name", "'p'",
                           secrets=(TOKEN,), shell=shell)  # fmt: skip
    assert not Path(CANARY).exists()


@pytest.mark.parametrize("prefix", ["1_", "A-", "A B_", "{PROFILE}-"])
def test_invalid_prefix_is_a_config_error(prefix: str, endpoint: TokenEndpoint) -> None:
    result = run("env", "p", "--prefix", prefix)
    assert_env_failure(result, 3, "invalid environment variable name", secrets=(TOKEN,))


@pytest.fixture
def two_profiles(server: LoopbackServer, profiles_file: Any) -> dict[str, str]:
    """Profiles `alpha` and `beta-2`, each with its own token."""

    def handler(request: Request) -> Response:
        token = "at-for-" + request.form["refresh_token"]
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    server.route("/token", handler)
    profiles_file({"alpha": {"refresh_token": "rt-alpha"}, "beta-2": {"refresh_token": "rt-beta"}})
    return {"alpha": "at-for-rt-alpha", "beta-2": "at-for-rt-beta"}


def test_two_profiles_exporting_the_same_name_is_a_config_error(
    two_profiles: dict[str, str],
) -> None:
    result = run("env", "alpha", "beta-2")
    assert_env_failure(result, 3, "ACCESS_TOKEN", "alpha", "beta-2",
                       secrets=tuple(two_profiles.values()))  # fmt: skip
    assert "--prefix" in result.stderr
    assert result.stderr.splitlines()[1].startswith("hint: ")


def test_profile_prefix_separates_them(two_profiles: dict[str, str]) -> None:
    data = json.loads(
        env_output("env", "alpha", "beta-2", "--shell", "json", "--prefix", "{PROFILE}_")
    )
    assert data["ALPHA_ACCESS_TOKEN"] == two_profiles["alpha"]
    assert data["BETA_2_ACCESS_TOKEN"] == two_profiles["beta-2"]
    assert data["ALPHA_TOKEN_TYPE"] == data["BETA_2_TOKEN_TYPE"] == "Bearer"
    assert len(data) == 6


def test_per_profile_prefix_separates_them(two_profiles: dict[str, str]) -> None:
    data = json.loads(
        env_output("env", "alpha", "beta-2", "--shell", "json", "--prefix", "beta-2=B_")
    )
    assert data["ACCESS_TOKEN"] == two_profiles["alpha"]
    assert data["B_ACCESS_TOKEN"] == two_profiles["beta-2"]
    assert len(data) == 6
    # a per-profile prefix wins over the one for all, whatever the order
    for order in (["GH_", "beta-2=B_"], ["beta-2=B_", "GH_"]):
        args = [arg for p in order for arg in ("--prefix", p)]
        data = json.loads(env_output("env", "alpha", "beta-2", "--shell", "json", *args))
        assert (data["GH_ACCESS_TOKEN"], data["B_ACCESS_TOKEN"]) == (
            two_profiles["alpha"], two_profiles["beta-2"],
        )  # fmt: skip


def test_env_with_one_failing_profile_prints_nothing(
    two_profiles: dict[str, str], server: LoopbackServer, profiles_file: Any
) -> None:
    server.reply("/dead", Response(400, {"error": "invalid_grant"}))
    profiles_file(
        {"alpha": {"refresh_token": "rt-alpha"}, "dead": {"token_url": server.url("/dead")}}
    )
    result = run("env", "alpha", "dead", "--prefix", "{PROFILE}_")
    assert_env_failure(result, 4, "invalid_grant", secrets=(two_profiles["alpha"],))


# --------------------------------------------------------------------------- formats


GOLDEN = {
    "sh": "export ACCESS_TOKEN='{t}'\nexport TOKEN_TYPE='Bearer'\nexport ACCESS_TOKEN_EXPIRES_AT='{e}'\n",
    "fish": "set -gx ACCESS_TOKEN '{t}'\nset -gx TOKEN_TYPE 'Bearer'\nset -gx ACCESS_TOKEN_EXPIRES_AT '{e}'\n",
    "json": '{{"ACCESS_TOKEN": "{t}", "TOKEN_TYPE": "Bearer", "ACCESS_TOKEN_EXPIRES_AT": "{e}"}}\n',
    "gitlab": "ACCESS_TOKEN={t}\nTOKEN_TYPE=Bearer\nACCESS_TOKEN_EXPIRES_AT={e}\n",
    "powershell": "$Env:ACCESS_TOKEN = '{t}'\n$Env:TOKEN_TYPE = 'Bearer'\n$Env:ACCESS_TOKEN_EXPIRES_AT = '{e}'\n",
    "dotenv": "ACCESS_TOKEN='{t}'\nTOKEN_TYPE='Bearer'\nACCESS_TOKEN_EXPIRES_AT='{e}'\n",
    "cmd": 'set "ACCESS_TOKEN={t}"\nset "TOKEN_TYPE=Bearer"\nset "ACCESS_TOKEN_EXPIRES_AT={e}"\n',
}


@pytest.mark.parametrize("shell", list(GOLDEN))
def test_golden_output_for_a_simple_token(shell: str, endpoint: TokenEndpoint) -> None:
    before = time.time()
    text = env_output("env", "p", "--shell", shell)
    after = time.time()
    stamps = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert len(stamps) == 1 and stamps[0] in expiry_candidates(before, after), text
    assert text == GOLDEN[shell].format(t=TOKEN, e=stamps[0])


@pytest.mark.parametrize(("shell", "value"), [("gitlab", "tok$HOME"), ("gitlab", "two words"),
                                              ("cmd", "100%"), ("cmd", 'a"&calc')])  # fmt: skip
def test_a_value_a_format_cannot_carry_is_refused_without_showing_it(
    shell: str, value: str, endpoint: TokenEndpoint
) -> None:
    endpoint.value = value
    result = run("env", "p", "--shell", shell)
    assert_env_failure(result, 3, "ACCESS_TOKEN", shell, secrets=(value,), shell=shell)


def test_a_nul_in_the_token_is_refused_without_showing_it(endpoint: TokenEndpoint) -> None:
    endpoint.value = "tok-with\0nul-inside"
    result = run("env", "p")
    assert_env_failure(result, 3, "NUL", secrets=("tok-with", "nul-inside"))


@pytest.mark.parametrize("shell", ["sh ", "SH", "", "tcsh"])  # bash, zsh: aliases of sh
def test_unknown_shell_is_a_usage_error(
    shell: str, endpoint: TokenEndpoint, server: LoopbackServer
) -> None:
    result = run("env", "p", "--shell", shell)
    assert_env_failure(result, 2, "shell", secrets=(TOKEN,), shell=shell)
    assert server.hits("/token") == []


# --------------------------------------------------------------------------- caching


def test_env_reuses_the_stored_token_until_forced(
    endpoint: TokenEndpoint, server: LoopbackServer
) -> None:
    first = env_output("env", "p")
    assert env_output("env", "p") == first
    assert env_output("env", "p", "--shell", "json")
    assert len(server.hits("/token")) == 1
    endpoint.value = "tok-second"
    forced = env_output("env", "p", "--force")
    assert len(server.hits("/token")) == 2
    assert "tok-second" in forced
    # token and exec share the same store
    assert run("token", "p").stdout == "tok-second\n"
    done = run_script("exec", "p", "--", "sh", "-c", 'printf %s "$ACCESS_TOKEN"')
    assert (done.code, done.stdout) == (0, "tok-second")
    assert len(server.hits("/token")) == 2


# --------------------------------------------------------------------------- exec


def test_exec_passes_the_environment(
    endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNRELATED_VAR", "still here")
    # GITHUB_ACTIONS too: exec prints nothing of its own (no masks) into the command's output
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    done = run_script("exec", "p", "--", "sh", "-c",
                      'printf "%s|%s|%s" "$ACCESS_TOKEN" "$TOKEN_TYPE" "$UNRELATED_VAR"')  # fmt: skip
    assert (done.code, done.stdout, done.stderr) == (0, f"{TOKEN}|Bearer|still here", "")


def test_exec_token_is_exactly_the_token(endpoint: TokenEndpoint) -> None:
    done = run_script("exec", "p", "--", "sh", "-c", 'printf %s "$ACCESS_TOKEN"')
    assert (done.code, done.stdout, done.stderr) == (0, TOKEN, "")


@pytest.mark.parametrize("value", [INJECTIONS[0] + INJECTIONS[1], "line1\nline2\n é€😀 "])
def test_exec_carries_any_value_without_a_shell(value: str, endpoint: TokenEndpoint) -> None:
    endpoint.value = value
    done = run_bytes("exec", "p", "--", "printenv", "ACCESS_TOKEN")
    assert (done.returncode, done.stdout, done.stderr) == (0, value.encode() + b"\n", b"")
    assert not Path(CANARY).exists()


def test_exec_with_prefixes_and_several_profiles(two_profiles: dict[str, str]) -> None:
    done = run_script("exec", "alpha", "beta-2", "--prefix", "{PROFILE}_", "--",
                      "sh", "-c", 'printf "%s %s" "$ALPHA_ACCESS_TOKEN" "$BETA_2_ACCESS_TOKEN"')  # fmt: skip
    assert (done.code, done.stdout) == (0, f"{two_profiles['alpha']} {two_profiles['beta-2']}")


def test_exec_clashing_names_is_a_config_error(two_profiles: dict[str, str]) -> None:
    done = run_script("exec", "alpha", "beta-2", "--", "sh", "-c", f"touch {CANARY}")
    assert_clean_failure(done, 3, "ACCESS_TOKEN", secrets=tuple(two_profiles.values()))
    assert not Path(CANARY).exists()


@pytest.mark.parametrize("status", [0, 7, 255])
def test_exec_propagates_the_exit_status(status: int, endpoint: TokenEndpoint) -> None:
    done = run_script("exec", "p", "--", "sh", "-c", f"exit {status}")
    assert (done.code, done.stdout, done.stderr) == (status, "", "")


def test_exec_leaves_stdout_stdin_and_arguments_untouched(endpoint: TokenEndpoint) -> None:
    binary = bytes(range(256)) + b"\r\n\x00no final newline"
    done = run_bytes("exec", "p", "--", "cat", stdin=binary)
    assert (done.returncode, done.stdout, done.stderr) == (0, binary, b"")
    done = run_bytes("exec", "p", "--", "printf", "\\000\\377\\001abc")
    assert (done.returncode, done.stdout) == (0, b"\x00\xff\x01abc")
    # everything after the first `--` is the command's, even `--`, `--help` and `-c`
    done = run_bytes(
        "exec", "p", "--", "sh", "-c", 'printf "%s|" "$@"', "sh", "a", "--", "--help", "-c", "-v"
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"a|--|--help|-c|-v|", b"")


def test_exec_stderr_of_the_child_passes_through(endpoint: TokenEndpoint) -> None:
    done = run_script("exec", "p", "--", "sh", "-c", "echo to-stderr >&2; exit 3")
    assert (done.code, done.stdout, done.stderr) == (3, "", "to-stderr\n")


def test_exec_missing_command_exits_127(endpoint: TokenEndpoint) -> None:
    done = run_script("exec", "p", "--", "oauthcli-test-no-such-command")
    assert_clean_failure(done, 127, "oauthcli-test-no-such-command", secrets=(TOKEN,))


def test_exec_command_that_is_not_executable_exits_126(endpoint: TokenEndpoint) -> None:
    """Found but not executable is 126, as in shells and env(1) (POSIX 2.8.2); 127 is not found."""
    Path("not-executable").write_text("#!/bin/sh\necho hi\n")
    Path("not-executable").chmod(stat.S_IRUSR | stat.S_IWUSR)
    done = run_script("exec", "p", "--", "./not-executable")
    assert_clean_failure(done, 126, "not-executable", secrets=(TOKEN,))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["exec", "p", "printenv"], "--"),
        (["exec", "p", "--"], "COMMAND"),
        (["exec", "--", "printenv"], "PROFILE"),
    ],
)
def test_exec_usage_errors_exit_2(
    args: list[str], fragment: str, endpoint: TokenEndpoint, server: LoopbackServer
) -> None:
    result = run(*args)  # usage errors are raised before anything could be executed
    assert_clean_failure(result, 2, fragment, secrets=(TOKEN,))
    assert server.hits("/token") == []


def test_exec_does_not_run_the_command_when_the_provider_refuses(
    server: LoopbackServer, profiles_file: Any
) -> None:
    server.reply("/token", Response(400, {"error": "invalid_grant", "error_description": "dead"}))
    profiles_file()
    done = run_script("exec", "p", "--", "sh", "-c", f"touch {CANARY}")
    assert_clean_failure(done, 4, "invalid_grant")
    assert not Path(CANARY).exists()


def test_exec_refuses_a_nul_in_the_token_like_env(endpoint: TokenEndpoint) -> None:
    """Not os.execvpe's ValueError ('internal error', exit 70): the config error `env` gives."""
    endpoint.value = "tok-with\0nul-inside"
    done = run_script("exec", "p", "--", "sh", "-c", f"touch {CANARY}")
    assert_clean_failure(done, 3, "NUL", secrets=("tok-with", "nul-inside"))
    assert not Path(CANARY).exists()


def _wait_until_execed(proc: subprocess.Popen[bytes], program: bytes, timeout: float = 20) -> None:
    """Wait until ``proc``'s own pid runs ``program`` (oauthcli has exec'd it)."""
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if cmdline.read_bytes().split(b"\0")[0] == program:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{program!r} was never exec'd")


@pytest.fixture
def linux_proc() -> None:
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to see the exec")


def test_exec_signals_reach_the_command(endpoint: TokenEndpoint, linux_proc: None) -> None:
    proc = subprocess.Popen([SCRIPT, "exec", "p", "--", "sleep", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _wait_until_execed(proc, b"sleep")  # same pid: the process *is* the command now
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)  # sleep 30 ended by the signal itself, not by finishing
    finally:
        proc.kill()
        proc.wait()
    assert code in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert proc.stdout is not None and proc.stdout.read() == b""


def test_exec_command_gets_default_sigpipe(endpoint: TokenEndpoint, linux_proc: None) -> None:
    """Python ignores SIGPIPE and exec keeps ignored signals ignored: without a reset,
    `oauthcli exec p -- yes | head -1` makes `yes` fail with 'Broken pipe' and exit 1."""
    proc = subprocess.Popen([SCRIPT, "exec", "p", "--", "yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"y\n"
        proc.stdout.close()  # like `| head -1`
        code = proc.wait(timeout=10)
        stderr = proc.stderr.read() if proc.stderr else b""
    finally:
        proc.kill()
        proc.wait()
    assert (code, stderr) == (-signal.SIGPIPE, b"")


# --------------------------------------------------------------------------- checked before any request


def test_prefix_for_a_profile_not_exported_is_a_usage_error(endpoint: TokenEndpoint) -> None:
    result = run("env", "p", "--prefix", "nosuch=X_")
    assert_env_failure(result, 2, "--prefix 'nosuch=X_' names 'nosuch'")


def test_bad_names_and_clashes_fail_before_any_request(
    server: LoopbackServer, profiles_file: Any, endpoint: TokenEndpoint
) -> None:
    before = len(server.hits("/token"))
    profiles_file({"p": {"export": {"1BAD": "access_token"}}})
    assert_env_failure(run("env", "p"), 3, "1BAD")
    profiles_file({"a": {}, "b": {}})
    assert_env_failure(run("env", "a", "b"), 3, "both export ACCESS_TOKEN")
    assert len(server.hits("/token")) == before


def test_non_string_fields_are_exported_in_json_spelling(
    server: LoopbackServer, profiles_file: Any
) -> None:
    handler = TokenEndpoint()
    handler.extra = {"flags": {"admin": True, "n": 3}}
    server.route("/token", handler)
    profiles_file(
        {"p": {"export": {"ADMIN": "flags.admin", "FLAGS": "flags", "TTL": "expires_in"}}}
    )
    values = json.loads(env_output("env", "p", "--shell", "json"))
    assert values["ADMIN"] == "true" and json.loads(values["FLAGS"]) == {"admin": True, "n": 3}
    assert values["TTL"].isdigit()
