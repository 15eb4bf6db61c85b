"""`oauthcli git-credential PROFILE get|store|erase`: the git credential helper (SPEC §11).

The protocol directly (including ``password_expiry_utc``, which Debian's git 2.39 drops), then
the real git: `git credential fill` / `reject`, and a `git ls-remote` against a loopback HTTP
remote that wants Basic credentials.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oauthcli import entry
from tests.conftest import SCRIPT, Result, assert_clean_failure, run, run_script, state_file
from tests.server import LoopbackServer, Request, Response

GIT = shutil.which("git")
ASK = "protocol=https\nhost=git.example.com\n\n"


def stored(profile: str = "p") -> dict[str, Any]:
    state: dict[str, Any] = json.loads(state_file(os.environ["OAUTHCLI_STATE_DIR"], profile)
                                       .read_text())  # fmt: skip
    return state


def answer(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


# --- the protocol ------------------------------------------------------------------------------


def test_get_answers_username_password_and_expiry(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    result = run("git-credential", "p", "get", stdin=ASK)
    assert result.code == 0 and result.stderr == "", result
    expires_at = stored()["token"]["expires_at"]
    assert result.stdout == ("username=oauth2\npassword=at-0001-abcdefgh\n"
                             f"password_expiry_utc={int(expires_at)}\n")  # fmt: skip
    assert run("git-credential", "p", "get", stdin=ASK).stdout == result.stdout  # cached
    assert rotating.counter == 1


@pytest.mark.slow
def test_the_fast_path_answers_get(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    assert entry.parse(["git-credential", "p", "get"]) is not None
    done = run_script("git-credential", "p", "get", stdin=ASK)
    assert answer(done.stdout)["password"] == "at-0001-abcdefgh" and done.code == 0


def test_username_comes_from_the_profile(
    profiles_file: Any, rotating: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_USER", "x-access-token")
    profiles_file({"p": {"git": {"username": "${env:GIT_USER}"}}})
    assert answer(run("git-credential", "p", "get", stdin=ASK).stdout)["username"] == (
        "x-access-token"
    )


def test_no_expiry_line_when_the_expiry_is_unknown(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"access_token": "opaque"}))
    profiles_file()
    assert run("git-credential", "p", "get", stdin=ASK).stdout == (
        "username=oauth2\npassword=opaque\n"
    )


def test_store_does_nothing(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    stdin = ASK.replace("\n\n", "\nusername=oauth2\npassword=whatever\n\n")
    assert run("git-credential", "p", "store", stdin=stdin) == Result(0, "", "")
    assert rotating.counter == 0


def test_erase_drops_the_access_token_and_keeps_the_refresh_token(
    profiles_file: Any, rotating: Any
) -> None:
    profiles_file()
    first = answer(run("git-credential", "p", "get", stdin=ASK).stdout)["password"]
    assert stored()["rotated_refresh_token"] == "rt-rotated-0001"
    rejected = ASK.replace("\n\n", f"\nusername=oauth2\npassword={first}\n\n")
    erased = run("git-credential", "p", "erase", stdin=rejected)
    assert erased.code == 0 and erased.stdout == ""
    state = stored()
    assert state["token"]["access_token"] == ""
    assert state["rotated_refresh_token"] == "rt-rotated-0001"  # never the refresh token
    again = answer(run("git-credential", "p", "get", stdin=ASK).stdout)["password"]
    assert again == "at-0002-abcdefgh"  # refreshed with the kept, rotated refresh token
    assert rotating.counter == 2


def test_erase_of_someone_elses_password_changes_nothing(
    profiles_file: Any, rotating: Any
) -> None:
    profiles_file()
    run("git-credential", "p", "get", stdin=ASK)
    before = stored()
    other = ASK.replace("\n\n", "\nusername=me\npassword=from-another-helper\n\n")
    assert run("git-credential", "p", "erase", stdin=other).code == 0
    assert stored() == before
    assert run("git-credential", "p", "erase", stdin="").code == 0  # nothing said: erase ours
    assert stored()["token"]["access_token"] == ""


@pytest.mark.parametrize(
    ("argv", "stdin", "code", "fragment"),
    [
        (["p", "fetch"], ASK, 2, "unknown git-credential action 'fetch'"),
        (["p"], ASK, 2, "Missing argument"),
        (["p", "get"], "protocol https\n\n", 2, "not key=value lines"),
        (["p", "get"], "host=x\0y\n\n", 2, "not key=value lines"),
        (["p", "get"], "k=" + "v" * 70_000 + "\n", 2, "more than 64 KiB"),
        (["nope", "get"], ASK, 3, "nope"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clean_failure(
    profiles_file: Any, rotating: Any, argv: list[str], stdin: str, code: int, fragment: str
) -> None:
    profiles_file()
    assert_clean_failure(run("git-credential", *argv, stdin=stdin), code, fragment)
    assert rotating.counter == 0


def test_a_token_that_would_inject_attributes_is_refused(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"access_token": "tok\nusername=evil", "expires_in": 60}))
    profiles_file()
    assert_clean_failure(run("git-credential", "p", "get", stdin=ASK), 6, "newline or NUL",
                         secrets=("tok\nusername=evil",))  # fmt: skip


# --- the real git ------------------------------------------------------------------------------


def git(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not GIT:
        pytest.skip("git not found (.ci/run installs it)")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
           "GIT_ASKPASS": "", "SSH_ASKPASS": ""}  # fmt: skip
    return subprocess.run([GIT, *args], input=stdin, capture_output=True, text=True, env=env,
                          timeout=60, cwd=cwd)  # fmt: skip


def helper_config(url: str, profile: str = "p") -> list[str]:
    return ["-c", "credential.helper=", "-c", f"credential.{url}.helper=!{SCRIPT} git-credential "
            f"{profile}"]  # fmt: skip


@pytest.mark.slow
def test_git_credential_fill_and_reject(profiles_file: Any, rotating: Any) -> None:
    profiles_file()
    filled = git(*helper_config("https://git.example.com"), "credential", "fill", stdin=ASK)
    assert filled.returncode == 0, filled.stderr
    got = answer(filled.stdout)
    assert (got["username"], got["password"]) == ("oauth2", "at-0001-abcdefgh")
    rejected = git(*helper_config("https://git.example.com"), "credential", "reject",
                   stdin=filled.stdout + "\n")  # fmt: skip
    assert rejected.returncode == 0, rejected.stderr
    assert stored()["token"]["access_token"] == ""
    assert stored()["rotated_refresh_token"] == "rt-rotated-0001"


@pytest.mark.slow
def test_git_fetches_from_a_remote_with_the_token(
    profiles_file: Any, rotating: Any, server: LoopbackServer, tmp_path: Path
) -> None:
    """git asks the helper, sends Basic oauth2:<token>; a rejected token is erased, then a
    fresh one is obtained by the next git command."""
    accepted = {"at-0001-abcdefgh"}

    def refs(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if any(given == "Basic " + base64.b64encode(f"oauth2:{t}".encode()).decode()
               for t in accepted):  # fmt: skip
            return Response(200, b"", {"Content-Type": "text/plain"})  # an empty dumb remote
        return Response(401, b"", {"WWW-Authenticate": 'Basic realm="fake"'})

    server.route("/repo.git/info/refs", refs)
    profiles_file()
    remote = server.url("/repo.git")
    listed = git(*helper_config(server.url("")), "ls-remote", remote, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    accepted.clear()  # the server revokes the token: git gets 401 and erases it
    failed = git(*helper_config(server.url("")), "ls-remote", remote, cwd=tmp_path)
    assert failed.returncode != 0
    assert stored()["token"]["access_token"] == ""
    accepted.add("at-0002-abcdefgh")
    again = git(*helper_config(server.url("")), "ls-remote", remote, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert rotating.counter == 2
