"""A fleet sharing one grant through Redis (SPEC §8, §10), through the installed console script.

Each "machine" is its own HOME and state dir; all share one Redis (tests/redis_fixture.py) and
one profiles file. Token endpoints: the real rotating django-oauth-toolkit server (reuse of a
refresh token is invalid_grant), or tests/server.py's RotatingProvider where a test must hold
the answer back or interfere while a request is in flight.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCRIPT, Result, assert_clean_failure, run_script, write_profiles
from tests.redis_fixture import PASSWORD, RedisServer
from tests.server import LoopbackServer, Request, Response, RotatingProvider


def machine(tmp_path: Path, i: int, store_url: str, config: Path, **extra: str) -> dict[str, str]:
    root = tmp_path / f"machine{i}"
    (root / "home").mkdir(parents=True, exist_ok=True)
    return {"HOME": str(root / "home"), "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "XDG_STATE_HOME": str(root / "home" / ".state"), "OAUTHCLI_STATE_DIR": str(root / "state"),
            "OAUTHCLI_STORE": store_url, "OAUTHCLI_CONFIG": str(config), **extra}  # fmt: skip


def shared_store(url: str, tmp_path: Path, key: str | None = None) -> Any:
    """The store as a test harness sees it (its own local dir)."""
    from oauthcli.store.opening import open_store
    from oauthcli.world import Options, World

    environ = {**os.environ, "OAUTHCLI_STORE": url}
    environ.pop("OAUTHCLI_STORE_KEY", None)
    if key:
        environ["OAUTHCLI_STORE_KEY"] = key
    return open_store(World(environ=environ, options=Options(state_dir=str(tmp_path / "harness"))))


def age_shared(url: str, tmp_path: Path) -> None:
    """Make every shared token stale, and drop every machine's local copy of it."""
    store = shared_store(url, tmp_path)
    for name in store.names():
        with store.lock(name, 10):
            state = store.read(name)
            token = state.token._replace(expires_at=time.time() - 10, obtained_at=time.time() - 3610)
            store.write(name, state._replace(token=token), state.generation)
    for copy in tmp_path.glob("machine*/state/.copy-*"):
        copy.unlink()


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **env})  # fmt: skip


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[Result]:
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [Result(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def loopback_profiles(tmp_path: Path, server: LoopbackServer, **extra: Any) -> Path:
    profile = {"token_url": server.url("/token"), "refresh_token": "rt-initial-0001",
               "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                        "client_id": "cid"}, "retries": 0, **extra}  # fmt: skip
    return write_profiles(tmp_path / "profiles.yaml", {"p": profile})


# --- refresh once across the fleet ------------------------------------------------------------


@pytest.mark.slow
def test_3_machines_x_16_processes_send_one_request_to_a_rotating_server(
    auth_server: Any, redis_db: RedisServer, tmp_path: Path
) -> None:
    client = auth_server.clients["basic"]
    profile = {"token_url": auth_server.token_url, "refresh_token": "${env:RT}", "retries": 0,
               "auth": {"type": "basic", "client_id": client.client_id,
                        "client_secret": "${env:CSECRET}"},
               "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}"}}  # fmt: skip
    config = write_profiles(tmp_path / "profiles.yaml", {"p": profile})
    # 48 processes on a small, loaded CI machine: a holder can be descheduled past a 5 s lease
    # (then it rightly sends nothing and exits 5); a longer lease keeps this about refresh-once.
    url = redis_db.url_for(0, query="prefix=fleet&lease=30")
    secrets = {"RT": auth_server.mint_refresh_token("basic"), "CSECRET": client.client_secret}
    machines = [machine(tmp_path, i, url, config, **secrets) for i in range(3)]
    mark = auth_server.log_mark()
    assert run_script("refresh", "p", env=machines[0]).code == 0
    for round_ in range(2):
        age_shared(url, tmp_path)
        before = auth_server.log_mark()
        results = finish([start(m, "token", "p") for m in machines for _ in range(16)])
        assert [r.code for r in results] == [0] * 48, [r for r in results if r.code][:3]
        assert len({r.stdout for r in results}) == 1, round_
        sent = auth_server.requests(before, path="/o/token/")
        assert [(e["grant_type"], e["status"]) for e in sent] == [("refresh_token", 200)], sent
    assert run_script("refresh", "p", env=machines[2]).code == 0  # the grant is alive
    refreshes = auth_server.requests(mark, path="/o/token/")
    assert all(e["status"] == 200 for e in refreshes), refreshes
    sent_tokens = [e["form"]["refresh_token"] for e in refreshes]
    assert len(sent_tokens) == len(set(sent_tokens)) == 4  # no refresh token reached it twice
    files = [p.name for p in tmp_path.glob("machine*/state/*") if not p.name.startswith(".")]
    assert files == []  # state lives in Redis; each machine has only its dot-file local copy


@pytest.mark.slow
def test_a_lease_shorter_than_a_slow_endpoint_is_renewed_and_one_request_is_sent(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    provider = RotatingProvider(delay=3.0)
    server.route("/token", provider)
    config = loopback_profiles(tmp_path, server)
    url = redis_db.url_for(0, query="lease=1")  # 3 × shorter than the request
    machines = [machine(tmp_path, i, url, config) for i in range(2)]
    results = finish([start(m, "token", "p") for m in machines for _ in range(4)])
    assert [r.code for r in results] == [0] * 8, results
    assert {r.stdout for r in results} == {"at-0001-abcdefgh\n"}
    assert provider.counter == 1 and len(server.hits("/token")) == 1


@pytest.mark.slow
def test_store_killed_and_restarted_while_processes_wait(
    server: LoopbackServer, redis_private: RedisServer, tmp_path: Path
) -> None:
    provider = RotatingProvider(delay=2.5)
    server.route("/token", provider)
    config = loopback_profiles(tmp_path, server)
    url = redis_private.url_for(0)
    machines = [machine(tmp_path, i, url, config) for i in range(2)]
    procs = [start(m, "token", "p") for m in machines for _ in range(6)]
    deadline = time.monotonic() + 20
    while not server.hits("/token") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)  # everyone is past its first contact, waiting on the lease
    redis_private.kill()
    time.sleep(0.3)
    redis_private.restart()
    results = finish(procs)
    assert provider.counter == 1 and len(server.hits("/token")) == 1  # nothing reused
    for result in results:
        if result.code == 0:
            assert result.stdout == "at-0001-abcdefgh\n"
        else:  # a clear failure, never a traceback or another store
            assert_clean_failure(result, 5, f"127.0.0.1:{redis_private.port}")
    assert sum(r.code == 0 for r in results) >= 6, results
    after = run_script("token", "p", env=machines[1])
    assert (after.code, after.stdout) == (0, "at-0001-abcdefgh\n"), after


# --- a write that cannot be stored --------------------------------------------------------------


def _interfering(provider: RotatingProvider, action: Any) -> Any:
    """The token endpoint, which runs ``action`` after rotating and before answering once."""
    done = threading.Event()

    def handler(request: Request) -> Response:
        response = provider(request)
        if not done.is_set():
            done.set()
            action()
        return response

    return handler


@pytest.mark.slow
def test_store_down_at_the_write_keeps_the_tokens_and_the_next_run_stores_them(
    server: LoopbackServer, redis_private: RedisServer, tmp_path: Path
) -> None:
    """Interleaving 7: the provider rotated, the store went away before the write."""
    provider = RotatingProvider()
    server.route("/token", _interfering(provider, redis_private.kill))
    config = loopback_profiles(tmp_path, server)
    env = machine(tmp_path, 0, redis_private.url_for(0, query="timeout=1&lease=1"), config)
    failed = run_script("token", "p", env=env)
    assert_clean_failure(failed, 5, "kept in", secrets=("rt-rotated-0001", "at-0001-abcdefgh"))
    kept = Path(failed.error_line.rsplit("kept in ", 1)[1])
    assert kept.parent == Path(env["OAUTHCLI_STATE_DIR"])
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and b"rt-rotated-0001" in kept.read_bytes()
    redis_private.restart()
    again = run_script("token", "p", env=env)  # reconciles: stores the kept state, reuses it
    assert (again.code, again.stdout) == (0, "at-0001-abcdefgh\n"), again
    assert provider.counter == 1 and not kept.exists()
    assert run_script("token", "p", "--force", env=env).stdout == "at-0002-abcdefgh\n"


@pytest.mark.slow
def test_cas_lost_after_rotation_keeps_the_tokens_and_says_where(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    """Interleaving 6c: while A's request was in flight another machine stored a newer state."""
    provider = RotatingProvider()
    url = redis_db.url_for(0)
    config = loopback_profiles(tmp_path, server)
    env = machine(tmp_path, 0, url, config)

    def machine_b_writes() -> None:  # A refreshes from nothing stored: B stores generation 1
        from oauthcli.store.state import State
        from oauthcli.token import Token

        token = Token("at-from-b", "Bearer", time.time() + 3600, obtained_at=time.time())
        shared_store(url, tmp_path).write(_name_of(env), State(token, "rt-from-b"), 0)

    server.route("/token", _interfering(provider, machine_b_writes))
    failed = run_script("token", "p", env=env)
    assert_clean_failure(failed, 5, "kept in", secrets=("rt-rotated-0001", "at-0001-abcdefgh"))
    kept = Path(failed.error_line.rsplit("kept in ", 1)[1])
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and b"rt-rotated-0001" in kept.read_bytes()
    [name] = shared_store(url, tmp_path).names()
    assert shared_store(url, tmp_path).read(name).token.access_token == "at-from-b"  # untouched


@pytest.mark.slow
def test_after_a_lost_cas_the_next_run_recovers_with_the_kept_refresh_token(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    test_cas_lost_after_rotation_keeps_the_tokens_and_says_where(server, redis_db, tmp_path)
    env = machine(tmp_path, 0, redis_db.url_for(0), tmp_path / "profiles.yaml")
    recovered = run_script("token", "p", "--force", env=env)  # the stored rt-from-b is dead
    assert (recovered.code, recovered.stdout) == (0, "at-0002-abcdefgh\n"), recovered


def _name_of(env: dict[str, str]) -> str:
    from oauthcli.config.load import load
    from oauthcli.grants.identity import state_name
    from oauthcli.world import Options, World

    world = World(environ={**os.environ, **env}, options=Options(config=env["OAUTHCLI_CONFIG"]))
    return state_name(world, load(env["OAUTHCLI_CONFIG"], world.environ).profile("p"))


# --- the store at the edge ----------------------------------------------------------------------


def test_unreachable_store_is_exit_5_before_any_token_request(
    server: LoopbackServer, tmp_path: Path
) -> None:
    from urllib.parse import quote

    provider = RotatingProvider()
    server.route("/token", provider)
    config = loopback_profiles(tmp_path, server)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0"
    for command in (["token", "p"], ["refresh", "p"], ["--store", url, "token", "p"]):
        result = run_script(*command, env=machine(tmp_path, 0, url, config))
        assert_clean_failure(result, 5, f"127.0.0.1:{port}", secrets=(PASSWORD, "p@ss"))
        assert "unreachable" in result.error_line
    assert provider.counter == 0 and not list(tmp_path.glob("machine0/state/*.json"))


@pytest.mark.slow
def test_same_profile_on_many_machines_shares_one_state_other_grants_do_not(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    server.route("/token", RotatingProvider())
    url = redis_db.url_for(0)
    config = loopback_profiles(tmp_path, server)
    first = run_script("token", "p", env=machine(tmp_path, 0, url, config))
    second = run_script("token", "p", env=machine(tmp_path, 1, url, config))
    assert first.stdout == second.stdout == "at-0001-abcdefgh\n"
    other = write_profiles(tmp_path / "other.yaml", {"p": {
        "token_url": server.url("/token"), "refresh_token": "rt-initial-0001", "retries": 0,
        "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                 "client_id": "another-client"}}})  # fmt: skip
    assert run_script("token", "p", env=machine(tmp_path, 2, url, other)).code == 4  # not shared
    names = shared_store(url, tmp_path).names()
    assert len(names) == 1 and names[0].startswith("p@")


def _config_accepts_store() -> bool:
    from oauthcli.config.load import config_from
    from oauthcli.errors import ConfigError

    try:
        config_from({"store": "file", "profiles": {}}, "probe")
    except ConfigError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _config_accepts_store(), reason="needs config: top-level `store:`")
def test_encrypted_shared_store_holds_no_token_and_a_wrong_key_changes_nothing(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    server.route("/token", RotatingProvider())
    profile = {"token_url": server.url("/token"), "refresh_token": "rt-initial-0001", "retries": 0,
               "body": {"grant_type": "refresh_token", "refresh_token": "${refresh_token}",
                        "client_id": "cid"}}  # fmt: skip
    config = tmp_path / "profiles.yaml"
    config.write_text(json.dumps({"store": {"url": redis_db.url_for(0), "key": "${env:FLEET_KEY}"},
                                  "profiles": {"p": profile}}))  # fmt: skip
    env = machine(tmp_path, 0, "", config, FLEET_KEY="f" * 44)
    del env["OAUTHCLI_STORE"]
    assert run_script("token", "p", env=env).stdout == "at-0001-abcdefgh\n"
    client = redis_db.client(decode_responses=False)
    raw = b"".join(str(client.hgetall(k)).encode() for k in client.keys("oauthcli:state:*"))
    assert raw and b"at-0001" not in raw and b"rt-rotated" not in raw and b"rt-initial" not in raw
    for path in tmp_path.glob("machine0/state/*"):
        assert b"at-0001" not in path.read_bytes() and b"rt-rotated" not in path.read_bytes()
    wrong = run_script("refresh", "p", env={**env, "FLEET_KEY": "w" * 44})
    assert_clean_failure(wrong, 3, "different store.key")
    assert b"".join(str(client.hgetall(k)).encode() for k in client.keys("oauthcli:state:*")) == raw


# --- the local copy (SPEC §8: a cached token reads no network) -----------------------------------


@pytest.mark.slow
def test_cached_token_answers_from_the_local_copy_with_the_store_down(
    server: LoopbackServer, redis_private: RedisServer, tmp_path: Path
) -> None:
    server.route("/token", RotatingProvider())
    env = machine(tmp_path, 0, redis_private.url_for(0), loopback_profiles(tmp_path, server))
    assert run_script("token", "p", env=env).stdout == "at-0001-abcdefgh\n"
    redis_private.kill()
    cached = run_script("token", "p", env=env)
    assert (cached.code, cached.stdout) == (0, "at-0001-abcdefgh\n"), cached


def test_cached_token_from_a_shared_store_imports_no_redis(
    server: LoopbackServer, redis_db: RedisServer, tmp_path: Path
) -> None:
    server.route("/token", RotatingProvider())
    env = machine(tmp_path, 0, redis_db.url_for(0), loopback_profiles(tmp_path, server))
    assert run_script("token", "p", env=env).code == 0
    done = subprocess.run([sys.executable, "-X", "importtime", SCRIPT, "token", "p"],
                          env={**os.environ, **env}, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and done.stdout == "at-0001-abcdefgh\n", done.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert not imported & {"redis", "cryptography", "requests", "asyncio"}, imported
