"""`token` and `refresh` of one profile without typer (oauthcli.entry) act as the full CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oauthcli import entry as fastpath
from tests.conftest import Result, run, run_script
from tests.server import LoopbackServer, Response


def run_fast(*args: str) -> Result:
    """Like conftest.run, but through the console script's entry point."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        fastpath.main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdout, sys.stderr = saved
    return Result(code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "p"],
        ["token", "p", "-f", "json", "--min-valid", "30", "--force"],
        ["-q", "--no-color", "token", "p", "--format=header"],
        ["token", "p", "-c", "-"],
        ["--state-dir", "/tmp/x", "refresh", "p", "-f", "json"],
        ["refresh", "--all"], ["refresh", "p", "q"], ["refresh", "--all", "-f", "json"],
    ],
)
def test_plain_command_lines_take_the_fast_path(argv: list[str]) -> None:
    assert fastpath.parse(argv) is not None


@pytest.mark.parametrize(
    "argv",
    [
        [], ["token"], ["token", "p", "q"], ["env", "p", "--prefix", "X"],
        ["refresh", "p", "--force"], ["refresh", "--all", "-f", "table"], ["-v", "token", "p"],
        ["token", "p", "--help"], ["token", "p", "-f", "table"], ["token", "p", "-fjson"],
        ["token", "p", "-f", "yaml"], ["token", "p", "--min-valid", "-1"],
        ["token", "p", "--min-valid", "soon"], ["token", "p", "-f", "json", "-f", "token"],
        ["-c=x", "token", "p"], ["token", "p", "--force=1"], ["token", "p", "-f"],
        ["token", "--", "p"], ["token", "-"],
    ],
)  # fmt: skip
def test_everything_else_goes_to_the_typer_app(argv: list[str]) -> None:
    assert fastpath.parse(argv) is None


def test_same_output_and_exit_codes_as_the_full_cli(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"access_token": "the-token", "expires_in": 3600}))
    profiles_file()
    assert run_fast("refresh", "p", "-f", "header").stdout == "Authorization: Bearer the-token\n"
    for argv in (["token", "p"], ["token", "p", "-f", "header"], ["token", "nope"],
                 ["token", "p", "-f", "yaml"], ["refresh", "nope"]):  # fmt: skip
        assert run_fast(*argv) == run(*argv), argv


def test_cached_token_imports_neither_typer_nor_http_code(
    profiles_file: Any, server: LoopbackServer
) -> None:
    server.reply("/token", Response(200, {"access_token": "the-token", "expires_in": 3600}))
    profiles_file()
    assert run_script("refresh", "p").code == 0
    heavy = ("typer", "requests", "rich", "jwt", "urllib3", "filelock")
    code = (
        "import sys; from oauthcli.entry import main; main(['token', 'p']); "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["the-token", "[]"], done.stderr


CACHED_PATHS = {  # SPEC §8: the same budget for what kubectl and git run before every request
    "token": (["token", "p"], ""),
    "json": (["token", "p", "-f", "json"], ""),
    "header": (["-q", "token", "p", "--format=header"], ""),
    "exec-credential": (["token", "p", "-f", "exec-credential"], ""),
    "git-credential": (["git-credential", "p", "get"], "protocol=https\nhost=example.com\n\n"),
    "env": (["env", "p"], ""),
}
HEAVY = ("typer", "click", "rich", "requests", "urllib3", "yaml", "jwt", "filelock", "cryptography")
# The one import-light route they share (SPEC §8, issue 16): beyond the interpreter's start,
# exactly these modules, whichever the line; not even json (its regular expressions cost a
# tenth of the budget). bench/importtime lists them with their cost.
ROUTE = {"oauthcli", "oauthcli.entry", "oauthcli.cached", "oauthcli.cached.route",
         "oauthcli.cached.lookup", "oauthcli.cached.index", "oauthcli.cached.refs",
         "oauthcli.cached.rules", "oauthcli.cached.jsonlite", "oauthcli.cached.shared", "_json",
         "_blake2"}  # fmt: skip


@pytest.mark.parametrize("path", sorted(CACHED_PATHS))
def test_cached_paths_import_no_heavy_module(
    path: str, tmp_path: Any, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §8: what kubectl and git run before every request loads none of these modules.

    The profile takes its secret from the environment, as profiles should: then the parsed copy
    of the profiles file is kept and yaml is not imported either.
    """
    from tests.conftest import write_profiles

    server.reply("/token", Response(200, {"access_token": "the-token", "expires_in": 3600}))
    config = write_profiles(tmp_path / "p.yaml", {"p": {
        "token_url": server.url("/token"), "refresh_token": "${env:RT}",
        "auth": {"type": "basic", "client_id": "cid", "client_secret": "${env:SECRET}"}}})  # fmt: skip
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(config))
    monkeypatch.setenv("RT", "rt-1")
    monkeypatch.setenv("SECRET", "s3cret")
    assert run_script("refresh", "p").code == 0
    argv, stdin = CACHED_PATHS[path]
    code = (
        "import sys; from oauthcli.entry import main; main(sys.argv[1:]); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], input=stdin, capture_output=True,
                          text=True)  # fmt: skip
    assert "the-token" in done.stdout and done.stderr == "[]\n", done
    assert route_modules(argv, stdin) == ROUTE, path


def route_modules(argv: list[str], stdin: str) -> set[str]:
    """The modules a run of ``argv`` loads beyond the interpreter's start."""
    code = (
        "import sys; started = set(sys.modules); "
        "from oauthcli.entry import main; main(sys.argv[1:]); "
        "print(*sorted(set(sys.modules) - started), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], input=stdin, capture_output=True,
                          text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    assert done.returncode == 0, done
    return set(done.stderr.split()) - {"__future__"}  # the interpreter may have it already


def test_a_refresh_leaves_the_route(profiles_file: Any, server: LoopbackServer) -> None:
    """A line the route cannot answer (here: no token stored yet) loads the full path."""
    server.reply("/token", Response(200, {"access_token": "the-token", "expires_in": 3600}))
    profiles_file()
    assert {"oauthcli.world", "oauthcli.grants.driver"} <= route_modules(["token", "p"], "")


def test_only_the_console_script_freezes_the_heap_before_exit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """entry.main() as the console script calls it (no argv, no world) ends with gc.freeze(),
    so the interpreter's final collections skip the objects that die with the process; a
    caller passing argv or a world (tests, the Python API) keeps its collector as it was."""
    import gc

    monkeypatch.setenv("OAUTHCLI_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setattr(sys, "argv", ["oauthcli", "list"])
    before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit):
            fastpath.main(["list"])
        assert gc.get_freeze_count() == before
        with pytest.raises(SystemExit):
            fastpath.main()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
