"""`oauthcli init [PROVIDER]`: profiles from the catalogue inside the package (SPEC §11).

What a pipx user has: no profiles.example.yaml, only the installed package. `init` lists the
catalogue, adds a profile to the profiles file (created 0600), never overwrites one, and the
demo's next steps start from it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oauthcli.catalogue import providers
from oauthcli.commands.demo import NEXT_STEPS
from tests.conftest import assert_clean_failure, run

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = providers()


def user_profiles() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "oauthcli" / "profiles.yaml"


def test_without_provider_it_lists_the_catalogue() -> None:
    result = run("init")
    assert result.code == 0, result
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == list(CATALOGUE)
    assert CATALOGUE["google"].description in result.stdout
    assert not user_profiles().exists()


def test_init_in_an_empty_config_dir_then_check_is_clean_apart_from_unset_variables() -> None:
    result = run("init", "google")
    assert result.code == 0 and result.stdout == "", result
    path = user_profiles()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text())["profiles"] == {"google": CATALOGUE["google"].profile}
    assert f"to {path}" in result.stderr
    assert "export GOOGLE_CLIENT_ID=… GOOGLE_CLIENT_SECRET=…" in result.stderr
    assert "oauthcli login google" in result.stderr and "oauthcli check" in result.stderr
    checked = run("check")
    assert checked.code == 0, checked
    findings = checked.stdout.splitlines()[:-1]
    unset = re.compile(r"(.*:\d+: )?warning: .*environment variable \w+ is not set")
    assert findings and all(unset.fullmatch(f) for f in findings), findings


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_provider_checks_without_errors(name: str, tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    assert run("-c", str(path), "init", name).code == 0
    checked = run("-c", str(path), "check")
    assert checked.code == 0, checked
    assert set(yaml.safe_load(path.read_text())["profiles"]) >= {name}


def test_init_of_an_existing_profile_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("profiles:\n  google:\n    token_url: https://mine.example/token\n")
    before = (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino)
    result = run("-c", str(path), "init", "google")
    assert result.code == 0 and "left unchanged" in result.stderr, result
    assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_init_keeps_everything_else_in_the_file(tmp_path: Path) -> None:
    original = ("# my profiles\n"
                "defaults:\n  timeout: 5   # seconds\n\n"
                "profiles:\n"
                "    # the work API\n"
                "    work:\n        token_url: https://id.example/token  # keep\n"
                "        refresh_token: ${env:WORK_RT}\n"
                "\n# trailing comment\n")  # fmt: skip
    path = tmp_path / "profiles.yaml"
    path.write_text(original)
    path.chmod(0o640)
    assert run("-c", str(path), "init", "gitlab").code == 0
    text = path.read_text()
    assert text.startswith(original.split("\n# trailing")[0]) and text.endswith("# trailing comment\n")
    data = yaml.safe_load(text)
    assert data["defaults"] == {"timeout": 5}
    assert list(data["profiles"]) == ["work", "gitlab"]
    assert data["profiles"]["gitlab"] == CATALOGUE["gitlab"].profile
    assert "\n    gitlab:\n" in text  # the file's own indentation
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # an existing file keeps its mode


def test_a_profile_that_extends_another_brings_it_along(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    assert CATALOGUE["google-work"].profile["extends"] == "google"
    result = run("-c", str(path), "init", "google-work")
    assert "added 'google', 'google-work'" in result.stderr, result
    assert list(yaml.safe_load(path.read_text())["profiles"]) == ["google", "google-work"]
    assert run("-c", str(path), "init", "google").stderr.count("left unchanged") == 1


def test_profiles_key_absent_or_empty(tmp_path: Path) -> None:
    for text in ("", "defaults: {timeout: 3}\n", "profiles: {}\n", "profiles:\n"):
        path = tmp_path / "p.yaml"
        path.write_text(text)
        assert run("-c", str(path), "init", "gitlab").code == 0, text
        assert list(yaml.safe_load(path.read_text())["profiles"]) == ["gitlab"], text


@pytest.mark.parametrize(
    ("argv", "content", "code", "fragment"),
    [
        (["init", "gogle"], None, 2, "no provider 'gogle'"),
        (["-c", "-", "init", "google"], None, 2, "-c - reads one from stdin"),
        (["init", "google"], "profiles: {work: {token_url: x}}\n", 3, "not a block mapping"),
        (["init", "google"], "profiles: [1, 2]\n", 3, "must be a mapping"),
        (["init", "google"], "profiles:\n  a: [\n", 3, "YAML"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clean_failure_and_changes_nothing(
    tmp_path: Path, argv: list[str], content: str | None, code: int, fragment: str
) -> None:
    path = tmp_path / "p.yaml"
    if content is not None:
        path.write_text(content)
    result = run("-c", str(path), *argv) if argv[0] != "-c" else run(*argv)
    assert_clean_failure(result, code, fragment)
    assert path.read_text() == content if content is not None else not path.exists()
    if argv == ["init", "gogle"]:
        assert "did you mean 'google'" in result.stderr


def test_demo_next_steps_work_for_a_pipx_user() -> None:
    """No profiles.example.yaml in an installed package: the steps start from `init`."""
    assert "profiles.example.yaml" not in NEXT_STEPS
    lines = [line.split("#")[0].split() for line in NEXT_STEPS.splitlines()[1:]]
    assert ["oauthcli", "init"] in lines and ["oauthcli", "init", "google"] in lines
    assert run("init").code == 0 and run("init", "google").code == 0
    assert run("check").code == 0


@pytest.mark.slow
def test_the_built_package_ships_the_catalogue_and_py_typed(tmp_path: Path) -> None:
    """What a wheel gets: setuptools' build_py of a copy of the project (no build backend
    download needed, nothing written into the work tree)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "oauthcli", tmp_path / "oauthcli",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
         "--build-lib", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    built = tmp_path / "out" / "oauthcli"
    assert (built / "catalogue.yaml").read_text() == (ROOT / "oauthcli" / "catalogue.yaml").read_text()
    assert (built / "py.typed").exists() and (built / "api.py").exists()
