"""`oauthcli demo`: works with no configuration, touches none of the user's files, exits 0."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import run_script


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.exists() else set()


@pytest.mark.slow
def test_demo_runs_the_whole_journey_without_touching_user_files(isolated: Path) -> None:
    home = Path(os.environ["HOME"])
    before = _files(home) | _files(isolated)
    result = run_script("demo", env={"OAUTHCLI_CONFIG": str(isolated / "must-not-be-read.yaml")})
    assert result.code == 0, result
    tokens = re.findall(r"^demo-at-[0-9a-f]{32}$", result.stdout, re.M)
    assert len(tokens) == 2 and tokens[0] != tokens[1]  # refresh, then token from the store
    assert '"profile":"demo"' in result.stdout  # refresh -f json after rotation
    assert "export ACCESS_TOKEN='demo-at-" in result.stdout
    assert re.search(r"introspection\s*│\s*pass", result.stdout)
    assert "token requests that reached the provider so far: 2" in result.stderr
    assert "oauthcli refresh google --dry-run" in result.stderr
    assert "demo-secret-" not in result.stdout + result.stderr
    assert "demo-rt-" not in result.stdout + result.stderr
    assert _files(home) | _files(isolated) == before
