"""The cached route (oauthcli.cached) answers exactly as the full path does, or not at all.

Each answer is compared with the full CLI's (``run``: the Typer app, in-process) character for
character; every case the route must not answer (stale, forced, unknown, odd files, encrypted)
is checked to reach the full path. Behaviour only: the timings are bench/'s (SPEC §8).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from oauthcli.cached.route import answer
from tests.conftest import age_state, run, run_script, state_file
from tests.server import LoopbackServer, Response

BODY = {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
        "client_id": "${env:ROUTE_CLIENT:-cid}"}  # fmt: skip
REFS = {"body": BODY, "refresh_token": "${env:ROUTE_RT}"}  # references only: the file is cached


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTE_RT", "rt-initial-0001")


@pytest.fixture
def stored(profiles_file: Any, rotating: Any, server: LoopbackServer) -> Any:
    """A profiles file of references only, and a fresh token stored for the ``refresh`` ones
    (by the rotating provider at /token; other profiles get a fixed answer from /static)."""
    answer = {"access_token": "at-static", "token_type": "bearer", "expires_in": 3600,
              "scope": "read write", "extra": {"tenant": "t-1"}}  # fmt: skip
    server.reply("/static", Response(200, answer))

    def make(profiles: dict[str, dict[str, Any]] | None = None, refresh: tuple[str, ...] = (),
             fixed: bool = False) -> Path:  # fmt: skip
        profiles = profiles or {"p": {}}
        static = {"token_url": server.url("/static")} if len(profiles) > 1 or fixed else {}
        path: Path = profiles_file({n: {**REFS, **static, **p} for n, p in profiles.items()})
        for name in refresh or tuple(profiles):
            assert run("refresh", name).code == 0
        return path

    return make


def cached(*argv: str, stdin: str = "") -> tuple[bool | str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    answered = answer(list(argv), dict(os.environ), io.StringIO(stdin), out, err)
    return answered, out.getvalue(), err.getvalue()


def assert_same(*argv: str, stdin: str = "") -> str:
    answered, out, err = cached(*argv, stdin=stdin)
    full = run(*argv, stdin=stdin)
    assert answered is True, (argv, full)
    assert (full.code, _steady(full.stdout), full.stderr) == (0, _steady(out), err), argv
    return out


def _steady(text: str) -> str:
    """-f json's expires_in may tick between the two runs."""
    if not text.startswith("{"):
        return text
    data = json.loads(text)
    data.get("expires_in") and data.update(expires_in=data["expires_in"] // 10)
    return json.dumps(data)


GIT = "protocol=https\nhost=example.com\n\n"
LINES = [
    ("token", "p"), ("token", "p", "-f", "token"), ("token", "p", "-f", "json"),
    ("token", "p", "--format=header"), ("token", "p", "-f", "exec-credential"),
    ("-q", "token", "p", "--min-valid", "30"), ("token", "--no-color", "p"),
    ("env", "p"), ("env", "p", "--shell", "bash"), ("env", "-s", "zsh", "p"),
]  # fmt: skip


@pytest.mark.parametrize("actions", [False, True], ids=["plain", "github-actions"])
def test_every_cached_line_answers_as_the_full_path(
    stored: Any, actions: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored()
    if actions:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")  # ::add-mask:: lines on stderr
    for line in LINES:
        assert_same(*line)
    assert_same("git-credential", "p", "get", stdin=GIT)


def test_options_naming_files_and_kubectl_versions(
    stored: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = stored()
    state = os.environ["OAUTHCLI_STATE_DIR"]
    monkeypatch.delenv("OAUTHCLI_CONFIG")
    monkeypatch.delenv("OAUTHCLI_STATE_DIR")
    assert_same("-c", str(config), "--state-dir", state, "token", "p")
    assert_same("token", "p", "--config", str(config), f"--state-dir={state}", "-f", "json")
    monkeypatch.setenv("OAUTHCLI_CONFIG", str(config))
    monkeypatch.setenv("OAUTHCLI_STATE_DIR", state)
    info = {"apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {"interactive": False}}
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", json.dumps(info))
    assert '"apiVersion":"client.authentication.k8s.io/v1beta1"' in assert_same(
        "token", "p", "-f", "exec-credential"
    )


def test_custom_exports_and_git_username(stored: Any, server: LoopbackServer) -> None:
    export = {"TOKEN": "access_token", "EXPIRES": "expires_at_epoch", "SCOPE": "scope",
              "TYPE": "token_type", "WHO": "profile", "TENANT": "extra.tenant"}  # fmt: skip
    stored({"p": {"export": export, "git": {"username": "x-access-token"}}, "q": {}})
    assert "export EXPIRES='" in assert_same("env", "p")
    assert "username=x-access-token\n" in assert_same("git-credential", "p", "get", stdin=GIT)
    assert_same("env", "q")


def test_the_default_places_of_the_profiles_file_and_state(
    stored: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No -c, no $OAUTHCLI_CONFIG/$OAUTHCLI_STATE_DIR: platformdirs' places, found without it."""
    config = stored(fixed=True)
    home = Path(os.environ["HOME"])
    default = home / ".config" / "oauthcli" / "profiles.yaml"
    default.parent.mkdir(parents=True)
    default.write_text(config.read_text())
    monkeypatch.delenv("OAUTHCLI_CONFIG")
    monkeypatch.delenv("OAUTHCLI_STATE_DIR")
    monkeypatch.chdir(home)  # no ./oauthcli.yaml here
    assert run("refresh", "p").code == 0  # stored under ~/.state/oauthcli now
    assert (home / ".state" / "oauthcli" / ".profiles-index").exists()
    assert_same("token", "p")


def test_a_stale_token_is_left_to_the_full_path(stored: Any, rotating: Any) -> None:
    stored()
    age_state(3590)  # 10 s left of 3600: not fresh for min_valid 60
    assert cached("token", "p")[0] is False
    before = rotating.counter
    assert run_script("token", "p").code == 0
    assert rotating.counter == before + 1


@pytest.mark.parametrize(
    "argv",
    [("token", "p", "--force"), ("token", "nope"), ("-v", "token", "p"), ("token", "p", "-f",
     "table"), ("env", "p", "--prefix", "X_"), ("env", "p", "-s", "fish"), ("env", "p", "q"),
     ("token", "p", "--min-valid", "inf"), ("token", "p", "-c=x"), ("git-credential", "p",
     "erase"), ("-f", "json", "token", "p"), ("token", "p", "--", "x")],
)  # fmt: skip
def test_lines_it_does_not_answer(stored: Any, argv: tuple[str, ...]) -> None:
    stored()
    assert cached(*argv)[0] is False


def test_anything_odd_goes_to_the_full_path(
    stored: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = stored()
    state = Path(os.environ["OAUTHCLI_STATE_DIR"])
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", '{"apiVersion": "v9"}')
    assert cached("token", "p", "-f", "exec-credential")[0] is False
    monkeypatch.delenv("KUBERNETES_EXEC_INFO")
    monkeypatch.setenv("OAUTHCLI_STORE_KEY", "k" * 32)  # an encrypted store: crypto's
    assert cached("token", "p")[0] is False
    monkeypatch.delenv("OAUTHCLI_STORE_KEY")
    state.chmod(0o755)  # readable by others: the full path warns
    assert cached("token", "p")[0] is False
    assert "warning: state directory" in run_script("token", "p").stderr
    state.chmod(0o700)
    assert cached("token", "p")[0] is True
    config.write_text(config.read_text() + "\n")  # edited: the index no longer matches
    assert cached("token", "p")[0] is False


def test_a_profile_that_does_not_build_is_reported_by_the_full_path(stored: Any) -> None:
    config = stored({"p": {}, "bad": {"min_valid": "soon"}}, refresh=("p",))
    assert cached("token", "bad")[0] is False
    assert run_script("token", "bad").code == 3
    assert cached("token", "p")[0] is True
    lines = (Path(os.environ["OAUTHCLI_STATE_DIR"]) / ".profiles-index").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines[1:]] == ['"p"'] and config.exists()


def test_git_input_read_by_the_route_is_handed_on(stored: Any) -> None:
    stored()
    answered, out, err = cached("git-credential", "p", "get", stdin="garbage\n\n")
    assert (answered, out, err) == ("garbage\n", "", "")  # invalid: replayed to the full path
    done = run_script("git-credential", "p", "get", stdin="garbage\n\n")
    assert done.code == 2 and "key=value" in done.stderr
    assert run_script("git-credential", "p", "get", stdin=GIT).stdout.startswith("username=")


def test_a_state_file_of_another_grant_or_odd_types_is_not_used(stored: Any) -> None:
    stored()
    path = state_file(os.environ["OAUTHCLI_STATE_DIR"])
    good = json.loads(path.read_text())
    changes: list[dict[str, Any]] = [{"name": "q@000000000000"}, {"generation": -1}, {"sealed": {}},
                                     {"token": {**good["token"], "expires_at": "soon"}},
                                     {"version": 2}]  # fmt: skip
    for change in changes:
        path.write_text(json.dumps({**good, **change}))
        assert cached("token", "p")[0] is False, change
    path.write_text(json.dumps(good))
    assert cached("token", "p")[0] is True


def test_a_shared_stores_local_copy_answers_and_its_absence_asks_redis(
    stored: Any, redis_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHCLI_STORE", redis_db.url)  # a password that needs escaping
    stored()
    assert_same("token", "p")
    assert_same("git-credential", "p", "get", stdin=GIT)
    [copy] = Path(os.environ["OAUTHCLI_STATE_DIR"]).glob(".copy-*")
    written = copy.read_bytes()
    copy.unlink()
    assert_same("token", "p")  # checked against Redis (one HMGET), by the route…
    assert copy.read_bytes() == written or json.loads(copy.read_bytes())["store"]  # …rewritten
    copy.unlink()
    monkeypatch.setenv("OAUTHCLI_STORE", redis_db.url.replace(str(redis_db.port), "1"))
    assert cached("token", "p")[0] is False  # unreachable: the full path says so (exit 5)
    assert run_script("token", "p").code == 5
