"""Stored tokens (issue 3): modes, atomic writes, rotation, locking, crash safety, corrupt files."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCRIPT, age_state, assert_clean_failure, run, run_script, state_file
from tests.server import LoopbackServer, RotatingProvider


def state_dir() -> Path:
    return Path(os.environ["OAUTHCLI_STATE_DIR"])


def state(profile: str = "p") -> dict[str, Any]:
    return json.loads(state_file(state_dir(), profile).read_text())  # type: ignore[no-any-return]


def expire(profile: str = "p") -> None:
    """Make the stored token stale, keeping the file's 0600 mode."""
    data = state(profile)
    data["token"]["expires_at"] = time.time() - 10
    path = state_file(state_dir(), profile)
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(data))


# --- location and modes -----------------------------------------------------------------------


def test_modes_are_0700_and_0600_whatever_the_umask(
    profiles_file: Any, rotating: RotatingProvider
) -> None:
    profiles_file()
    done = subprocess.run([SCRIPT, "refresh", "p"], capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(0))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(state_dir().stat().st_mode) == 0o700
    for path in state_dir().iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_state_dir_option_and_env(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path
) -> None:
    profiles_file()
    assert run("--state-dir", str(tmp_path / "elsewhere"), "refresh", "p").code == 0
    assert state_file(tmp_path / "elsewhere").is_file()
    assert not state_dir().exists()


def test_default_state_dir_is_the_user_state_dir(
    profiles_file: Any, rotating: RotatingProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHCLI_STATE_DIR")
    profiles_file()
    assert run("refresh", "p").code == 0
    assert state_file(Path(os.environ["XDG_STATE_HOME"]) / "oauthcli").is_file()


def test_state_holds_the_fields_of_spec_6(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file()
    run("refresh", "p")
    data = state()
    assert data["token"]["access_token"] == "at-0001-abcdefgh"
    assert data["token"]["token_type"] == "Bearer"
    assert data["token"]["scope"] == "read write"
    assert data["token"]["expires_at"] > time.time() + 3500
    assert data["rotated_refresh_token"] == "rt-rotated-0001"
    assert (
        data["refresh_token_fingerprint"] and "rt-initial" not in data["refresh_token_fingerprint"]
    )
    assert data["token"]["obtained_at"] <= time.time()


def test_symlink_at_state_path_is_refused(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path
) -> None:
    profiles_file()
    state_dir().mkdir(mode=0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (state_dir() / "p.json").symlink_to(target)
    result = run("token", "p")
    assert_clean_failure(result, 3, "symbolic link")
    assert target.read_text() == "{}"
    assert rotating.counter == 0


def test_corrupt_state_is_moved_aside_reported_and_ignored(
    profiles_file: Any, rotating: RotatingProvider
) -> None:
    profiles_file()
    state_dir().mkdir(mode=0o700)
    (state_dir() / "p.json").write_text('{"token": {"access_tok')
    listed = run("list", "-f", "json")
    assert json.loads(listed.stdout)["status"] == "corrupt"
    result = run("token", "p")
    assert result.code == 0 and result.stdout == "at-0001-abcdefgh\n"
    assert "warning: state file" in result.stderr and "corrupt" in result.stderr
    aside = list(state_dir().glob("p.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == '{"token": {"access_tok'


# --- token: reuse, refresh, rotation ----------------------------------------------------------


def test_token_reuses_a_fresh_stored_token(
    profiles_file: Any, server: LoopbackServer, rotating: RotatingProvider
) -> None:
    profiles_file()
    first = run("token", "p")
    second = run("token", "p")
    assert first.stdout == second.stdout == "at-0001-abcdefgh\n"
    assert len(server.hits("/token")) == 1


def test_token_refreshes_when_less_than_min_valid_remains(
    profiles_file: Any, rotating: RotatingProvider
) -> None:
    rotating.expires_in = 100
    profiles_file()
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"  # 100 s left > 60
    # A margin beyond the lifetime is capped at half of it (SPEC §13): still reused here...
    assert run("token", "p", "--min-valid", "200").stdout == "at-0001-abcdefgh\n"
    age_state(60)  # ...but not once fewer than 50 of its 100 s are left
    assert run("token", "p", "--min-valid", "200").stdout == "at-0002-abcdefgh\n"
    assert run("token", "p", "--force").stdout == "at-0003-abcdefgh\n"


def test_profile_min_valid(profiles_file: Any, rotating: RotatingProvider) -> None:
    rotating.expires_in = 100
    profiles_file({"p": {"min_valid": 150}})
    run("token", "p")
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"  # margin capped at 50 s
    age_state(60)
    assert run("token", "p").stdout == "at-0002-abcdefgh\n"


def test_unknown_expiry_uses_assume_ttl(profiles_file: Any, server: LoopbackServer) -> None:
    count = []

    def opaque(request: Any) -> Any:
        from tests.server import Response

        count.append(1)
        return Response(200, {"access_token": f"opaque-{len(count)}"})

    server.route("/token", opaque)
    profiles_file({"p": {"assume_ttl": 120}})
    assert run("token", "p").stdout == "opaque-1\n"
    assert run("token", "p").stdout == "opaque-1\n"
    assert run("token", "p", "--min-valid", "121").stdout == "opaque-1\n"  # capped at 60 s
    age_state(70)
    assert run("token", "p", "--min-valid", "121").stdout == "opaque-2\n"


@pytest.mark.slow
def test_rotation_across_50_runs(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file()
    for i in range(1, 51):
        result = run("refresh", "p")
        assert result.code == 0, (i, result)
        assert result.stdout == f"at-{i:04d}-abcdefgh\n"
    assert state()["rotated_refresh_token"] == "rt-rotated-0050"


def test_response_without_refresh_token_keeps_the_previous_one(
    profiles_file: Any, server: LoopbackServer
) -> None:
    from tests.server import Response

    server.reply("/token", Response(200, {"access_token": "no-rotation", "expires_in": 60}))
    profiles_file()
    run("refresh", "p")
    run("refresh", "p")
    assert state()["rotated_refresh_token"] == "rt-initial-0001"
    assert all(h.form["refresh_token"] == "rt-initial-0001" for h in server.hits("/token"))


def test_changed_configured_refresh_token_wins(
    profiles_file: Any, server: LoopbackServer, rotating: RotatingProvider
) -> None:
    profiles_file()
    run("refresh", "p")  # rotated to rt-rotated-0001
    rotating.live = "rt-reauthorised"  # a person re-authorised and configured the new one
    profiles_file({"p": {"refresh_token": "rt-reauthorised"}})
    result = run("refresh", "p")
    assert result.code == 0, result
    assert server.hits("/token")[-1].form["refresh_token"] == "rt-reauthorised"


def test_dead_refresh_token_is_exit_4_with_reauthorise_hint(
    profiles_file: Any, rotating: RotatingProvider
) -> None:
    rotating.live = "something-else"
    profiles_file()
    result = run("token", "p")
    assert_clean_failure(result, 4, "invalid_grant", secrets=("rt-initial-0001",))
    assert "a person must authorise again" in result.stderr


# --- concurrency ------------------------------------------------------------------------------


@pytest.mark.slow
def test_16_processes_refresh_once(profiles_file: Any, server: LoopbackServer) -> None:
    provider = RotatingProvider(delay=0.3)
    server.route("/token", provider)
    profiles_file()
    assert run("refresh", "p").code == 0
    for round_ in range(3):
        expire()
        before = provider.counter
        procs = [subprocess.Popen([SCRIPT, "token", "p"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(16)]  # fmt: skip
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 16, outputs
        assert provider.counter == before + 1, (
            f"round {round_}: {provider.counter - before} requests"
        )
        assert {out for out, _ in outputs} == {f"at-{before + 1:04d}-abcdefgh\n"}


@pytest.mark.slow
def test_concurrent_refresh_commands_each_send_the_latest_refresh_token(
    profiles_file: Any, server: LoopbackServer
) -> None:
    provider = RotatingProvider(delay=0.1)
    server.route("/token", provider)
    profiles_file()
    procs = [subprocess.Popen([SCRIPT, "refresh", "p"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]  # fmt: skip
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    assert provider.counter == 6


def test_lock_wait_times_out_with_exit_5(profiles_file: Any, rotating: RotatingProvider) -> None:
    from filelock import FileLock

    profiles_file({"p": {"lock_timeout": 0.3}})
    assert run("token", "p").code == 0
    expire()
    with FileLock(str(state_file(state_dir()).with_suffix(".lock"))):
        result = run_script("token", "p")
    assert_clean_failure(result, 5, "held the lock for profile 'p")
    assert rotating.counter == 1


# --- crash safety -----------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["before_fsync", "before_rename", "before_dir_fsync"])
def test_sigkill_during_write_leaves_old_or_new_state(
    profiles_file: Any, rotating: RotatingProvider, point: str
) -> None:
    profiles_file()
    assert run("refresh", "p").code == 0
    result = run_script("refresh", "p", env={"OAUTHCLI_TEST_CRASH_AT": point})
    assert result.code == -signal.SIGKILL
    data = state()  # always parses
    completed = point == "before_dir_fsync"  # the rename happened: the write completed
    expected = "rt-rotated-0002" if completed else "rt-rotated-0001"
    assert data["rotated_refresh_token"] == expected
    assert not list(state_dir().glob(".*.tmp")) or not completed
    if completed:
        assert run("token", "p", "--force").code == 0
    else:  # the server rotated but the write never completed: the old token is dead
        assert run("token", "p", "--force").code == 4


@pytest.mark.slow
def test_sigkill_at_random_moments_never_tears_the_state_file(
    profiles_file: Any, server: LoopbackServer
) -> None:
    provider = RotatingProvider(delay=0.05)
    server.route("/token", provider)
    profiles_file()
    rng = random.Random(1234)
    for _ in range(25):
        proc = subprocess.Popen([SCRIPT, "refresh", "p"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(rng.uniform(0.05, 0.6))
        proc.kill()
        proc.wait()
        path = state_file(state_dir())
        if path.exists():
            state()  # parses: old or new, never torn
        if provider.live == (
            state()["rotated_refresh_token"] if path.exists() else "rt-initial-0001"
        ):
            assert run("token", "p", "--force").code == 0  # the store holds the live token


# --- forget and list --------------------------------------------------------------------------


def test_forget_deletes_state(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file()
    run("refresh", "p")
    result = run("forget", "p", "--yes")  # the rotated refresh token goes: confirmed
    assert (result.code, result.stdout) == (0, "")
    assert "stored token deleted" in result.stderr
    assert not state_file(state_dir()).exists()
    assert "no stored token" in run("forget", "p").stderr


def test_forget_revoke_calls_rfc7009_endpoint(
    profiles_file: Any, server: LoopbackServer, rotating: RotatingProvider
) -> None:
    profiles_file({"p": {"revocation_url": server.url("/revoke")}})
    run("refresh", "p")
    result = run("forget", "p", "--revoke")
    assert result.code == 0, result
    assert "refresh token revoked" in result.stderr
    assert rotating.revoked == ["rt-rotated-0001"]
    hit = server.hits("/revoke")[0]
    assert hit.form["token_type_hint"] == "refresh_token"
    assert hit.form["client_id"] == "cid"
    assert not state_file(state_dir()).exists()


def test_forget_revoke_failure_keeps_state(
    profiles_file: Any, server: LoopbackServer, rotating: RotatingProvider
) -> None:
    from tests.server import Response

    server.reply("/revoke", Response(400, {"error": "invalid_client"}))
    profiles_file({"p": {"revocation_url": server.url("/revoke")}})
    run("refresh", "p")
    assert_clean_failure(run("forget", "p", "--revoke"), 4, "invalid_client")
    assert state_file(state_dir()).exists()


def test_forget_all(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file({"a": {}, "b": {}})
    run("refresh", "a")
    assert run("forget", "--all", "--yes").code == 0
    assert [p.name for p in state_dir().glob("*.json") if not p.name.startswith(".")] == []


def test_list_shows_stored_token_status(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file({"fresh": {}, "none": {}, "stale": {}})
    run("refresh", "fresh")
    rotating.live = "rt-initial-0001"
    run("refresh", "stale")
    expire("stale")
    rows = {
        json.loads(line)["profile"]: json.loads(line) for line in run("list").stdout.splitlines()
    }
    assert rows["fresh"]["status"].startswith("valid until ")
    assert rows["none"]["status"] == "none"
    assert rows["stale"]["status"].startswith("expired ")
    assert rows["fresh"]["method"] == "POST"


# --- choosing the store (SPEC §10) ------------------------------------------------------------


def test_unknown_store_is_a_config_error(profiles_file: Any, rotating: RotatingProvider) -> None:
    profiles_file()
    for args in (["--store", "memcached://:hunter2@h:1"], []):
        env = {} if args else {"OAUTHCLI_STORE": "memcached://:hunter2@h:1"}
        result = run_script(*args, "token", "p", env=env)
        assert_clean_failure(result, 3, "unknown store", secrets=("hunter2",))
    assert rotating.counter == 0


def test_store_key_in_the_profiles_file_encrypts_the_file_store(
    profiles_file: Any, rotating: RotatingProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = profiles_file()
    data = yaml_load(path)
    data["store"] = {"url": "file", "key": "${env:STATE_KEY}"}
    path.write_text(json.dumps(data))
    monkeypatch.setenv("STATE_KEY", "s" * 40)
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"
    raw = state_file(state_dir()).read_bytes()
    assert b"at-0001" not in raw and b"rt-rotated" not in raw and b'"sealed"' in raw
    assert run("token", "p").stdout == "at-0001-abcdefgh\n"  # read back with the key
    monkeypatch.setenv("STATE_KEY", "w" * 40)
    assert_clean_failure(run("refresh", "p"), 3, "different store.key")
    assert state_file(state_dir()).read_bytes() == raw and rotating.counter == 1
    monkeypatch.setenv("STATE_KEY", "k3y-9")
    assert_clean_failure(run("token", "p"), 3, "too short", secrets=("k3y-9",))


def yaml_load(path: Path) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded
