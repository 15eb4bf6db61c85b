"""Shared fixtures: isolated dirs and environment, a loopback server, CLI runners, a profile factory."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.server import LoopbackServer, RotatingProvider

pytest_plugins = ["tests.authserver.plugin", "tests.assertion_server.plugin", "tests.redis_fixture",
                  "tests.k8s_fixture"]

SCRIPT = shutil.which("oauthcli", path=str(Path(sys.executable).parent)) or "oauthcli"
# A secret planted in profiles; tests assert it never reaches output it should not.
PLANTED = "s3cr3t-PLANTED-value-9f8e"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME, config dir, state dir and cwd; no stray CI variables."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("OAUTHCLI_CONFIG", "GITHUB_ACTIONS", "GITHUB_ENV", "NO_COLOR", "HTTPS_PROXY",
                 "HTTP_PROXY", "https_proxy", "http_proxy", "OAUTHCLI_TEST_CRASH_AT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".state"))
    monkeypatch.setenv("OAUTHCLI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def state_file(directory: Path | str, profile: str = "p") -> Path:
    """The stored grant of ``profile``: ``<profile>@<identity>.json`` (SPEC §6, §10); the one
    the product wrote, or where a legacy ``<profile>.json`` is when there is none."""
    found = sorted(Path(directory).glob(f"{profile}@*.json"))
    assert len(found) <= 1, found
    return found[0] if found else Path(directory) / f"{profile}.json"


def age_state(seconds: float, profile: str = "p") -> None:
    """Pretend the stored token was obtained ``seconds`` earlier (its expiry moves with it)."""
    import json

    path = state_file(os.environ["OAUTHCLI_STATE_DIR"], profile)
    data = json.loads(path.read_text())
    data["token"]["obtained_at"] -= seconds
    if data["token"]["expires_at"] is not None:
        data["token"]["expires_at"] -= seconds
    with open(path, "w") as handle:  # the file exists: its 0600 mode is kept
        handle.write(json.dumps(data))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def rotating(server: LoopbackServer) -> RotatingProvider:
    provider = RotatingProvider()
    server.route("/token", provider)
    server.route("/revoke", provider.revoke)
    return provider


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:
        return f"Result(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"

    @property
    def error_line(self) -> str:
        return self.stderr.splitlines()[0] if self.stderr else ""


def run(*args: str, stdin: str = "") -> Result:
    """Run the CLI in this process through `cli.main` (the error→exit-code mapping included)."""
    from oauthcli import cli
    from oauthcli.world import World

    out, err = io.StringIO(), io.StringIO()
    world = World(environ=dict(os.environ), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    code = 0
    try:
        cli.main(list(args), world)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def run_script(*args: str, env: dict[str, str] | None = None, stdin: str = "",
               timeout: float = 60) -> Result:  # fmt: skip
    """Run the installed console script as a subprocess."""
    done = subprocess.run(
        [SCRIPT, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def write_profiles(
    path: Path, profiles: dict[str, Any], defaults: dict[str, Any] | None = None
) -> Path:
    data: dict[str, Any] = {"profiles": profiles}
    if defaults:
        data["defaults"] = defaults
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def profiles_file(tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Factory: write a profiles file whose profiles default to the loopback /token URL."""

    def make(profiles: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> Path:
        profiles = profiles or {"p": {}}
        full = {
            name: {
                "token_url": server.url("/token"),
                "body": {
                    "grant_type": "refresh_token",
                    "refresh_token": "${refresh_token}",
                    "client_id": "cid",
                    "client_secret": PLANTED,
                },  # fmt: skip
                "refresh_token": "rt-initial-0001",
                "retries": 0,
                **spec,
            }
            for name, spec in profiles.items()
        }
        path = write_profiles(tmp_path / "oauthcli.yaml", full, **kwargs)
        monkeypatch.setenv("OAUTHCLI_CONFIG", str(path))
        return path

    return make


def assert_clean_failure(
    result: Result, code: int, *fragments: str, secrets: tuple[str, ...] = ()
) -> None:
    """Exit code, a one-line error on stderr (plus an optional hint), nothing on stdout, no secret."""
    assert result.code == code, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), result
    assert all(line.startswith(("error: ", "hint: ", "warning: ")) for line in lines), result
    assert len([line for line in lines if line.startswith("error: ")]) == 1, result
    for fragment in fragments:
        assert fragment in lines[0], (fragment, result)
    for secret in (PLANTED, *secrets):
        assert secret not in result.stderr and secret not in result.stdout, result
    assert "Traceback" not in result.stderr
