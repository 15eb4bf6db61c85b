"""Shell completion (Typer's, driven by Click's completion environment variables): profile
names from the profiles file without running any `${cmd:}`, provider names, and the values of
--shell and --format; `--install-completion zsh` installs for zsh."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from oauthcli import options
from tests.conftest import run, run_script, write_profiles


def complete_bash(monkeypatch: pytest.MonkeyPatch, line: str) -> list[str]:
    """What bash would offer for the last word of ``line`` (in-process, through cli.main)."""
    words = line.split(" ")
    monkeypatch.setenv("_OAUTHCLI_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", line)
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    result = run()
    assert result.code == 0 and result.stderr == "", result
    return result.stdout.split()


@pytest.fixture
def two_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    marker = tmp_path / "cmd-ran"
    secret = {"token_url": "https://id.example/token", "refresh_token": f"${{cmd:touch {marker}}}"}
    default = write_profiles(tmp_path / "profiles.yaml", {"corp": secret, "corp-staging": {
        "extends": "corp"}, "github": {"token_url": "https://github.com/login/oauth/access_token"}})
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(default))
    write_profiles(tmp_path / "other.yaml", {"other": {"token_url": "https://o.example/t"}})
    return marker


def test_profile_names_without_running_commands(
    two_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert complete_bash(monkeypatch, "oauthcli token ") == ["corp", "corp-staging", "github"]
    assert complete_bash(monkeypatch, "oauthcli env github co") == ["corp", "corp-staging"]
    assert complete_bash(monkeypatch, "oauthcli git-credential g") == ["github"]
    assert complete_bash(monkeypatch, "oauthcli -c other.yaml show ") == ["other"]
    assert not two_files.exists()  # the ${cmd:} was never run


def test_option_values(two_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete_bash(monkeypatch, "oauthcli env corp --shell ") == list(options.SHELLS)
    assert complete_bash(monkeypatch, "oauthcli token corp -f ") == list(options.FORMATS)
    assert complete_bash(monkeypatch, "oauthcli token corp --format e") == ["exec-credential"]
    assert complete_bash(monkeypatch, "oauthcli list -f ") == ["table", "json"]
    assert complete_bash(monkeypatch, "oauthcli git-credential corp ") == ["get", "store", "erase"]
    assert "google-work" in complete_bash(monkeypatch, "oauthcli init google")


def test_a_broken_profiles_file_completes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("profiles: [\n")
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(broken))
    assert complete_bash(monkeypatch, "oauthcli token ") == []
    assert complete_bash(monkeypatch, "oauthcli -c - token ") == []  # stdin is the shell's


@pytest.mark.slow
def test_the_console_script_completes_too(two_files: Path) -> None:
    """Through entry.main: a completion request is never answered by the fast path."""
    for words in ("oauthcli token ", "oauthcli token corp -f "):
        env = {"_OAUTHCLI_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split(" ")) - 1)}  # fmt: skip
        done = run_script(*words.split()[1:], env=env)
        assert done.code == 0 and done.stdout.split(), done
    zsh = run_script(env={"_OAUTHCLI_COMPLETE": "complete_zsh",
                          "_TYPER_COMPLETE_ARGS": "oauthcli token "})  # fmt: skip
    assert '"corp"' in zsh.stdout and '"github"' in zsh.stdout, zsh


def test_install_completion_for_zsh(monkeypatch: pytest.MonkeyPatch) -> None:
    home = Path(os.environ["HOME"])
    result = run("--install-completion", "zsh")
    assert result.code == 0 and "zsh completion installed" in result.stdout, result
    assert "_OAUTHCLI_COMPLETE=complete_zsh" in (home / ".zfunc" / "_oauthcli").read_text()
    assert "fpath+=~/.zfunc" in (home / ".zshrc").read_text()
    shown = run("--show-completion", "fish")
    assert shown.code == 0 and "complete --command oauthcli" in shown.stdout


def test_install_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    result = run("--install-completion", "tcsh")
    assert result.code == 2 and result.stdout == "", result


def test_completion_in_the_readme(monkeypatch: pytest.MonkeyPatch) -> Any:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "--install-completion zsh" in readme
