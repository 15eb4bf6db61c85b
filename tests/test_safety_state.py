"""SPEC §13 "A grant is never spent that cannot be stored", tried the way an unlucky CI job would.

For every way the store can fail that a test can force, one of two things must hold afterwards:
nothing reached the token endpoint, or the rotated refresh token is durably stored (so the
grant survives). The provider here rotates strictly (a reused refresh token is invalid_grant),
so `grant_alive` proves the second case by refreshing again with what the store holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    PLANTED,
    assert_clean_failure,
    run,
    run_script,
    state_file,
)
from tests.server import LoopbackServer, Response, RotatingProvider


def state_dir() -> Path:
    return Path(os.environ["OAUTHCLI_STATE_DIR"])


def stored_refresh_token(profile: str = "p") -> str | None:
    path = state_file(state_dir(), profile)
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("rotated_refresh_token")  # type: ignore[no-any-return]


def grant_survived(rotating: RotatingProvider, sent_before: int) -> None:
    """Nothing was sent, or the store holds the refresh token the provider now expects."""
    if rotating.counter == sent_before:
        return
    assert stored_refresh_token() == rotating.live, (stored_refresh_token(), rotating.live)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A small filesystem of its own at ``path`` (root only; skipped elsewhere)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(path)], capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root only): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


@pytest.fixture
def stored(profiles_file: Any, rotating: RotatingProvider) -> RotatingProvider:
    """A profile whose state exists (one rotation done), then made stale."""
    profiles_file({"p": {"min_valid": 60}})
    assert run("refresh", "p").code == 0
    path = state_file(state_dir())
    data = json.loads(path.read_text())
    data["token"]["expires_at"] = data["token"]["obtained_at"] = 1.0
    with open(path, "w") as handle:
        handle.write(json.dumps(data))
    return rotating


# --- the store cannot take the answer ------------------------------------------------------------


@pytest.mark.slow
def test_read_only_filesystem_sends_nothing_but_serves_fresh_tokens(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tmpfs(tmp_path / "ro") as mount:
        monkeypatch.setenv("OAUTHCLI_STATE_DIR", str(mount / "state"))
        profiles_file()
        assert run("token", "p").stdout == "at-0001-abcdefgh\n"
        remount_read_only(mount)
        assert run("token", "p").stdout == "at-0001-abcdefgh\n"  # a fresh token is still served
        before = rotating.counter
        result = run("refresh", "p")
        assert_clean_failure(result, 3, "state")
        assert rotating.counter == before  # the grant was not spent
        grant_survived(rotating, before)


@pytest.mark.slow
def test_full_filesystem_sends_nothing(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tmpfs(tmp_path / "full", size="64k") as mount:
        monkeypatch.setenv("OAUTHCLI_STATE_DIR", str(mount / "state"))
        profiles_file()
        assert run("token", "p").code == 0
        filler = mount / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as handle:
            while True:
                handle.write(b"x" * 4096)
                handle.flush()
        before = rotating.counter
        result = run("refresh", "p")
        assert result.code in (3, 5), result
        assert result.stdout == "" and PLANTED not in result.stderr
        grant_survived(rotating, before)
        filler.unlink()
        assert run("refresh", "p").code == 0  # the grant still works once there is room


@pytest.mark.parametrize("length", [200, 250])
def test_profile_name_too_long_for_a_file_never_loses_the_grant(
    profiles_file: Any, rotating: RotatingProvider, length: int
) -> None:
    name = "p" * length  # with "@<identity>.json" beyond NAME_MAX (255)
    profiles_file({name: {}})
    result = run("refresh", name)
    if result.code == 0:  # stored under a name the filesystem takes: the grant lives on
        assert run("refresh", name).code == 0
    else:
        assert_clean_failure(result, 3)
        assert rotating.counter == 0


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_non_regular_file_at_the_state_path_sends_nothing(
    stored: RotatingProvider, kind: str, tmp_path: Path
) -> None:
    path = state_file(state_dir())
    path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "elsewhere.json")
    before = stored.counter
    result = run_script("token", "p", timeout=20)  # a FIFO must never be opened for reading
    assert_clean_failure(result, 3, "state")
    assert stored.counter == before


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_non_regular_file_at_the_lock_path_is_a_clean_error(
    stored: RotatingProvider, kind: str
) -> None:
    lock = state_file(state_dir()).with_suffix(".lock")
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
    if kind == "directory":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    before = stored.counter
    result = run_script("token", "p", timeout=20)
    assert result.code in (3, 5), result
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert stored.counter == before


def test_state_dir_that_is_a_file_is_a_clean_error(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("OAUTHCLI_STATE_DIR", str(tmp_path / "not-a-dir"))
    profiles_file()
    assert_clean_failure(run("token", "p"), 3, "state")
    assert rotating.counter == 0


@pytest.mark.slow
def test_concurrent_runs_over_a_corrupt_state_file_refresh_once(stored: RotatingProvider) -> None:
    state_file(state_dir()).write_text('{"token": {"access_tok')
    stored.live = "rt-initial-0001"  # the rotated token died with the file; the configured one works
    before = stored.counter
    procs = [subprocess.Popen([*_script(), "token", "p"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]  # fmt: skip
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({out for out, _ in outs}) == 1
    assert stored.counter == before + 1
    assert len(list(state_dir().glob("p@*.json.corrupt-*"))) == 1  # set aside once, kept
    grant_survived(stored, before)


def _script() -> list[str]:
    from tests.conftest import SCRIPT

    return [SCRIPT]


# --- valid but unusual answers ---------------------------------------------------------------

UNUSUAL: dict[str, dict[str, Any]] = {
    "expires_in string": {"expires_in": "3600"},
    "expires_in negative": {"expires_in": -5},
    "expires_in float": {"expires_in": 59.9},
    "expires_in huge": {"expires_in": 10**15},
    "expires_in null": {"expires_in": None},
    "no token_type": {"token_type": None},
    "scope list": {"scope": ["read", "write"]},
    "scope empty": {"scope": ""},
    "extra nested": {"extra": {"deep": [{"a": [1, 2, {"b": None}]}]}},
    "unicode token": {"access_token": "ätøken-✓-" + "x" * 20},
    "long token": {"access_token": "a" * 200_000},
    "id_token garbage": {"id_token": "not.a.jwt"},
    "refresh_token empty": {"refresh_token": ""},
    "refresh_token null": {"refresh_token": None},
    "control chars in type": {"token_type": "Bearer\x1b[31m"},
    "control chars in token": {"access_token": "tok\x1b]0;pwned\x07en"},
    "newline in token": {"access_token": "tok\nexport X=1"},
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(UNUSUAL), ids=list(UNUSUAL))
def test_unusual_answers_never_lose_the_grant(
    profiles_file: Any, server: LoopbackServer, change: str
) -> None:
    provider = RotatingProvider()

    def answer(request: Any) -> Response:
        response = provider(request)
        if response.status != 200:
            return response
        body = dict(response.body)  # type: ignore[call-overload]
        for key, value in UNUSUAL[change].items():
            if key == "refresh_token" and not value:
                provider.live = request.form["refresh_token"]  # no rotation this time
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return Response(200, body)

    server.route("/token", answer)
    profiles_file()
    first = run("refresh", "p", "-f", "json")
    assert first.code in (0, 6), first
    assert "Traceback" not in first.stderr and "\x1b" not in first.stderr + first.stdout
    grant_survived(provider, 0)
    second = run("refresh", "p")
    assert second.code in (0, 6), second  # the grant is alive: never invalid_grant (exit 4)


# --- a person waiting on another's refresh is told why ----------------------------------------


@pytest.mark.slow
def test_a_process_waiting_on_the_lock_says_so_on_a_terminal(stored: RotatingProvider) -> None:
    import pty

    from filelock import FileLock

    lock = FileLock(str(state_file(state_dir()).with_suffix(".lock")))
    lock.acquire()
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([*_script(), "token", "p"], stdout=subprocess.PIPE,
                            stderr=secondary, text=True)  # fmt: skip
    os.close(secondary)
    seen = b""
    while b"waiting for another oauthcli process" not in seen:
        chunk = os.read(primary, 1024)  # blocks until the notice arrives; fails on EOF
        assert chunk, seen
        seen += chunk
    lock.release()
    out, _ = proc.communicate(timeout=30)
    os.close(primary)
    assert proc.returncode == 0 and out == "at-0002-abcdefgh\n"
    assert b"'p'" in seen


@pytest.mark.slow
def test_no_waiting_notice_off_a_terminal(stored: RotatingProvider) -> None:
    from filelock import FileLock

    lock = FileLock(str(state_file(state_dir()).with_suffix(".lock")))
    with lock:
        proc = subprocess.Popen([*_script(), "token", "p"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)  # it waits on the lock meanwhile
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "at-0002-abcdefgh\n", "")
