"""README.md documents every command, option and exit code the CLI has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from oauthcli.cli import app
from oauthcli.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> dict[str, list[str]]:
    group = typer.main.get_command(app)
    found: dict[str, list[str]] = {"": [o for p in group.params for o in p.opts]}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        found[name] = [o for p in command.params for o in p.opts if o.startswith("-")]
    return found


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_and_option_is_in_readme(command: str) -> None:
    if command:
        assert re.search(rf"`oauthcli {command}\b", README), f"command {command} not in README"
    for option in _commands()[command]:
        assert option in README, f"option {option} of {command or 'oauthcli'} not in README"


@pytest.mark.parametrize("code", [int(c) for c in ExitCode])
def test_every_exit_code_is_in_readme(code: int) -> None:
    assert re.search(rf"^\| {code} \|", README, re.M), f"exit code {code} not documented"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- test-command -->" in README and "test-command" in ci
    block = README.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert "pytest" in block and "pip install -e '.[test]'" in block
