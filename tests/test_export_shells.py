"""Property tests: real shells read back exactly the value exported, and execute none of it.

`oauthcli env` output is meant for `eval "$(...)"` (bash, dash, zsh) and `| source` (fish), with
values from a token server, so each test renders values, runs the shell in an empty temporary
directory, has the shell write each variable back with `printf '%s'`, compares bytes, and checks
that the directory holds nothing else (no PWNED canary from an injected command).

Values are any text without NUL: the kernel passes environment variables as C strings, so no
shell or process can hold a NUL in one (render refuses it; see test_export.py). A shell that is
not installed is skipped with a reason; .ci/run installs zsh and fish.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli.export.shells import ExportVar, render

CANARY = "PWNED"
ATTACKS = [
    f"x'; touch {CANARY}; echo '",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"x\\'; touch {CANARY}; echo \\'",  # aimed at fish's \' escape
    f"'\ntouch {CANARY}\n'",
    f'"; touch {CANARY}; echo "',
    f"${{IFS}}touch${{IFS}}{CANARY}",
    "first line\nsecond line\n",
    "ends with a backslash\\",
    "\\",
    "",
    "!! !$ ^x^y",
    "é€😀’\u2028\x1b[31m",
]

# Any text without NUL or lone surrogates (which no process can receive), weighted towards
# the characters that mean something to a shell.
value_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_characters="\0"),
        st.sampled_from("'\"\\$`!;|&<>(){}[]*?~#%^= \n\r\t’‘"),
    ),
    max_size=30,
)
batches = st.lists(value_text, min_size=1, max_size=6)

# How each shell runs: no rc files, a UTF-8 locale, and the statement file read the way users do.
SHELL_COMMANDS = {
    "bash": (["bash", "--norc", "--noprofile", "-c"], "sh", 'eval "$(cat ./vars)"'),
    "dash": (["dash", "-c"], "sh", 'eval "$(cat ./vars)"'),
    "zsh": (["zsh", "-f", "-c"], "sh", 'eval "$(cat ./vars)"'),
    "fish": (["fish", "--no-config", "-c"], "fish", "source ./vars"),
}


def require(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    return path


def run_and_read_back(shell: str, values: list[str], load: str | None = None) -> list[str]:
    """Export ``values`` as V0, V1, ... in ``shell`` and return what the shell holds."""
    argv, fmt, default_load = SHELL_COMMANDS[shell]
    argv = [require(argv[0]), *argv[1:]]
    variables = [ExportVar(f"V{i}", v, True) for i, v in enumerate(values)]
    writes = "; ".join(f"printf '%s' \"$V{i}\" > out{i}" for i in range(len(values)))
    with scratch() as work:
        Path(work, "vars").write_text(render(variables, fmt), encoding="utf-8")
        result = subprocess.run(
            [*argv, f"{load or default_load}; {writes}"],
            cwd=work,
            env=_clean_env(work),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert result.stderr == b""
        expected = {"vars", *(f"out{i}" for i in range(len(values)))}
        assert set(os.listdir(work)) == expected  # no canary, nothing else created
        return [Path(work, f"out{i}").read_bytes().decode("utf-8") for i in range(len(values))]


@contextmanager
def scratch() -> Iterator[str]:
    """An empty working directory, with HOME beside it (fish creates ~/.config on start)."""
    with tempfile.TemporaryDirectory() as root:
        os.mkdir(Path(root, "home"))
        os.mkdir(Path(root, "work"))
        yield str(Path(root, "work"))


def _clean_env(work: str) -> dict[str, str]:
    """No BASH_ENV, ENV or user config: the shell sees only our statements."""
    home = str(Path(work).parent / "home")
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LC_ALL": "C.UTF-8"}


@pytest.mark.parametrize("shell", SHELL_COMMANDS)
@pytest.mark.parametrize("value", ATTACKS)
def test_known_attacks_are_inert(shell: str, value: str) -> None:
    assert run_and_read_back(shell, [value]) == [value]


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh"])
def test_sourcing_the_sh_output_works_too(shell: str) -> None:
    assert run_and_read_back(shell, ATTACKS, load=". ./vars") == ATTACKS


def test_variables_are_exported_to_child_processes() -> None:
    require("env")
    for shell in SHELL_COMMANDS:
        values = ["multi\nline", "it's"]
        argv, fmt, load = SHELL_COMMANDS[shell]
        variables = [ExportVar(f"V{i}", v, True) for i, v in enumerate(values)]
        with scratch() as work:
            Path(work, "vars").write_text(render(variables, fmt), encoding="utf-8")
            result = subprocess.run(
                [require(argv[0]), *argv[1:], f"{load}; env -0"],
                cwd=work,
                env=_clean_env(work),
                capture_output=True,
                timeout=30,
                check=True,
            )
        environment = dict(e.split("=", 1) for e in result.stdout.decode().split("\0") if e)
        assert [environment.get(f"V{i}") for i in range(len(values))] == values, shell


@pytest.mark.parametrize("shell", SHELL_COMMANDS)
@settings(max_examples=60, deadline=None)
@given(values=batches)
def test_any_value_round_trips(shell: str, values: list[str]) -> None:
    assert run_and_read_back(shell, values) == values


@pytest.mark.parametrize("shell", ["bash", "dash"])
@settings(max_examples=30, deadline=None)
@given(values=batches)
def test_dotenv_output_sourced_by_sh_runs_nothing(shell: str, values: list[str]) -> None:
    """People `set -a; . ./.env`: the dotenv quoting is inert there too, and exact when the
    value has no line break (its \\n escape means a newline to dotenv parsers only)."""
    argv, _, _ = SHELL_COMMANDS[shell]
    variables = [ExportVar(f"V{i}", v, True) for i, v in enumerate(values)]
    with scratch() as work:
        Path(work, ".env").write_text(render(variables, "dotenv"), encoding="utf-8")
        writes = "; ".join(f"printf '%s' \"$V{i}\" > out{i}" for i in range(len(values)))
        result = subprocess.run(
            [require(argv[0]), *argv[1:], f". ./.env; {writes}"],
            cwd=work,
            env=_clean_env(work),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert set(os.listdir(work)) == {".env", *(f"out{i}" for i in range(len(values)))}
        for i, value in enumerate(values):
            if "\n" not in value and "\r" not in value:
                assert Path(work, f"out{i}").read_bytes().decode("utf-8") == value
