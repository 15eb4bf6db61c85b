"""The parsed copy of the profiles file: used while the file is unchanged, never trusted otherwise."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run
from tests.server import LoopbackServer, Response

CACHE = ".profiles-cache.json"
# A body of references only: a profile with a literal secret is never cached.
BODY = {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"}
RT = "${env:CACHE_TEST_RT}"  # a literal default would be a literal secret: never cached


@pytest.fixture(autouse=True)
def refresh_token_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_TEST_RT", "rt-initial-0001")


def state_dir() -> Path:
    return Path(os.environ["OAUTHCLI_STATE_DIR"])


def test_second_run_uses_the_parsed_copy_without_importing_yaml(
    profiles_file: Any, rotating: Any
) -> None:
    profiles_file({"p": {"body": BODY, "refresh_token": RT}})
    assert run("token", "p").code == 0
    assert stat.S_IMODE((state_dir() / CACHE).stat().st_mode) == 0o600
    code = (
        "import sys, io, contextlib\n"
        "from oauthcli.entry import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try: main(['token', 'p'])\n"
        "    except SystemExit: pass\n"
        "print(out.getvalue().strip(), 'yaml' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["at-0001-abcdefgh", "False"], done.stderr


def test_an_edit_is_never_missed(profiles_file: Any, server: LoopbackServer) -> None:
    server.reply("/one", Response(200, {"access_token": "one"}))
    server.reply("/two", Response(200, {"access_token": "two"}))
    path = profiles_file(
        {"p": {"token_url": server.url("/one"), "body": BODY, "refresh_token": RT}}
    )
    assert run("refresh", "p").stdout == "one\n"
    assert (state_dir() / CACHE).exists()
    text = path.read_text().replace("/one", "/two")
    path.write_text(text)  # same size, mtime may be within the same second
    assert run("refresh", "p").stdout == "two\n"


def test_data_json_cannot_carry_exactly_is_not_cached(profiles_file: Any, rotating: Any) -> None:
    path = profiles_file({"p": {"description": "d", "body": BODY, "refresh_token": RT}})
    path.write_text(path.read_text().replace("description: d", "description: 2026-11-29"))
    result = run("refresh", "p")  # a YAML date: JSON would turn it into a string
    assert result.code == 3 and "field description" in result.stderr
    assert not (state_dir() / CACHE).exists()


def test_a_corrupt_copy_is_ignored(profiles_file: Any, rotating: Any) -> None:
    profiles_file({"p": {"body": BODY, "refresh_token": RT}})
    run("token", "p")
    (state_dir() / CACHE).write_text("{not json")
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"
    assert json.loads((state_dir() / CACHE).read_text())["data"]["profiles"]["p"]
