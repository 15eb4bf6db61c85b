"""The Redis store itself (SPEC §10): URLs, the lease, the interleavings of oauthcli/store/redis.py.

The TokenStore contract runs over this backend in tests/test_store_contract.py; the CLI across
several machines is tests/test_fleet.py. Here: what only a shared store has. Interleaving
numbers refer to the list in the docstring of oauthcli/store/redis.py.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauthcli.errors import ConfigError, ExitCode, TransientError
from oauthcli.store.base import LeaseLostError, StaleWriteError
from oauthcli.store.keys import redis_key
from oauthcli.store.opening import open_store
from oauthcli.store.redis import RedisStore
from oauthcli.store.redisurl import parse
from oauthcli.store.state import State
from oauthcli.token import Token
from oauthcli.world import Options, World
from tests.redis_fixture import PASSWORD, RedisServer

NOW = time.time()


def state_of(n: int, expires_in: float = 3600) -> State:
    token = Token(f"at-{n:04d}-SECRET", "Bearer", NOW + expires_in, refresh_token=f"rt-{n:04d}",
                  obtained_at=NOW)  # fmt: skip
    return State(token, f"rt-{n:04d}")


def open_redis(url: str, state_dir: Path, key: str | None = None) -> RedisStore:
    environ = {**os.environ, "OAUTHCLI_STORE": url}
    environ.pop("OAUTHCLI_STORE_KEY", None)
    if key:
        environ["OAUTHCLI_STORE_KEY"] = key
    store = open_store(World(environ=environ, options=Options(state_dir=str(state_dir))))
    assert isinstance(store, RedisStore)
    return store


@pytest.fixture
def url(redis_db: RedisServer) -> str:
    return redis_db.url_for(0, query="prefix=t&lease=1&timeout=1")


@pytest.fixture
def machine_a(url: str, tmp_path: Path) -> RedisStore:
    return open_redis(url, tmp_path / "a")


@pytest.fixture
def machine_b(url: str, tmp_path: Path) -> RedisStore:
    return open_redis(url, tmp_path / "b")


@pytest.fixture
def warnings_log() -> Iterator[list[str]]:
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                seen.append(record.getMessage())

    logger = logging.getLogger("oauthcli")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(level)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- URLs -------------------------------------------------------------------------------------


def test_url_is_parsed_by_hand_and_described_without_its_password() -> None:
    from urllib.parse import quote

    address = parse(f"rediss://us%40er:{quote(PASSWORD, safe='')}@[::1]:6390/3?prefix=ci.fleet")
    assert (address.username, address.password) == ("us@er", PASSWORD)
    assert (address.host, address.port, address.db, address.tls) == ("::1", 6390, 3, True)
    assert address.describe() == "rediss://[::1]:6390/3?prefix=ci.fleet"
    assert PASSWORD not in address.store_id and "us@er" not in address.store_id
    assert parse("redis://h").describe() == "redis://h:6379/0"


@pytest.mark.parametrize("bad, message", [
    ("redis://h/x", "database must be a number"), ("redis://h:port/0", "port"),
    ("redis://h/0?prefx=a", "unknown option 'prefx'"), ("redis://h/0?prefix=a:b", "prefix"),
    ("redis://h/0?prefix=a*", "prefix"), ("redis://h/0?lease=0", "lease"), ("redis://", "no host"),
])  # fmt: skip
def test_bad_urls_are_config_errors(bad: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(bad)


def test_every_form_of_url_reaches_the_server(redis_db: RedisServer, tmp_path: Path) -> None:
    """Password with @ : / # % ? & + and space; an ACL user; another db; TLS with a test CA."""
    urls = [redis_db.url_for(0), redis_db.user_url, redis_db.url_for(5)]
    if redis_db.tls_url:
        urls.append(f"{redis_db.tls_url}?ssl_ca_certs={redis_db.ca_path}")
    for i, url in enumerate(urls):
        store = open_redis(url, tmp_path / str(i))
        store.write(f"p{i}", state_of(i), expected=0)
        assert store.read(f"p{i}") == state_of(i).with_generation(1)  # fast reader
        with store.lock(f"p{i}", 5):
            assert store.read(f"p{i}") == state_of(i).with_generation(1)  # redis-py
    assert redis_db.client(5).exists(redis_key("oauthcli", "state", "p2")) == 1


def test_prefix_namespaces_every_key(redis_db: RedisServer, tmp_path: Path) -> None:
    a = open_redis(redis_db.url_for(0, query="prefix=team-a"), tmp_path / "a")
    b = open_redis(redis_db.url_for(0, query="prefix=team-b"), tmp_path / "b")
    a.write("p", state_of(1), expected=0)
    with a.lock("p", 5):
        assert sorted(redis_db.client().keys("*")) == ["team-a:lease:p", "team-a:state:p"]
    assert b.read("p") is None and b.names() == [] and a.names() == ["p"]
    assert b.read_cached("p") is None  # the local copy is bound to its store too


# --- failures of the store ---------------------------------------------------------------------


@pytest.mark.slow
def test_unreachable_store_is_exit_5_naming_host_and_port_never_the_password(
    tmp_path: Path,
) -> None:
    from urllib.parse import quote

    port = closed_port()
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/0?timeout=1"
    store = open_redis(url, tmp_path)
    started = time.monotonic()
    for attempt in (lambda: store.read("p"), lambda: store.lock("p", 5).__enter__(),
                    lambda: store.write("p", state_of(1), 0), store.names,
                    lambda: store.check_writable("p")):  # fmt: skip
        with pytest.raises(TransientError) as caught:
            attempt()
        assert caught.value.exit_code == ExitCode.TRANSIENT
        assert f"127.0.0.1:{port}" in caught.value.message
        assert PASSWORD not in caught.value.message and "p@ss" not in caught.value.message
    assert time.monotonic() - started < 5  # no hidden retries before saying so (write: 1 s)


def test_a_failed_write_keeps_the_tokens_locally(tmp_path: Path) -> None:
    store = open_redis(f"redis://127.0.0.1:{closed_port()}/0?timeout=0.2", tmp_path)
    with pytest.raises(TransientError) as caught:
        store.write("p", state_of(1), 0)
    kept = Path(caught.value.message.rsplit("kept in ", 1)[1])
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and b"rt-0001" in kept.read_bytes()


def test_wrong_password_is_a_config_error(redis_db: RedisServer, tmp_path: Path) -> None:
    store = open_redis(f"redis://:wrong@127.0.0.1:{redis_db.port}/0", tmp_path)
    for attempt in (lambda: store.read("p"), lambda: store.lock("p", 1).__enter__()):
        with pytest.raises(ConfigError, match="refused this client") as caught:
            attempt()
        assert "wrong" not in caught.value.message


def test_a_value_of_another_type_is_set_aside(machine_a: RedisStore, redis_db: RedisServer,
                                             warnings_log: list[str]) -> None:  # fmt: skip
    redis_db.client().set("t:state:p", "not a hash")
    assert machine_a.inspect("p") == "corrupt"
    with machine_a.lock("p", 5):
        assert machine_a.read("p") is None
    [aside] = redis_db.client().keys("t:corrupt:p:*")
    assert redis_db.client().get(aside) == "not a hash"
    assert any("corrupt" in w for w in warnings_log)


# --- the lease ---------------------------------------------------------------------------------


def test_lease_is_set_nx_px_with_a_random_owner_and_released_only_by_it(
    machine_a: RedisStore, redis_db: RedisServer
) -> None:
    client = redis_db.client()
    with machine_a.lock("p", 5) as lease:
        owner = client.get("t:lease:p")
        assert owner.startswith(f"{socket.gethostname()}:{os.getpid()}:") and len(owner) > 30
        assert 0 < client.pttl("t:lease:p") <= 1000
        assert lease.still_held()
    assert client.exists("t:lease:p") == 0  # released
    with machine_a.lock("p", 5):
        client.set("t:lease:p", "someone-else")  # it ran out and another took it
    assert client.get("t:lease:p") == "someone-else"  # compare-and-delete: not ours, kept


@pytest.mark.slow
def test_lease_is_renewed_while_held(machine_a: RedisStore, machine_b: RedisStore,
                                     redis_db: RedisServer) -> None:  # fmt: skip
    with machine_a.lock("p", 5) as lease:
        time.sleep(2.5)  # 2.5 × the 1 s lease
        assert lease.still_held() and redis_db.client().pttl("t:lease:p") > 0
        with pytest.raises(TransientError, match="held the lock"), machine_b.lock("p", 0.3):
            pass


def test_ensure_makes_the_lease_outlast_the_request(machine_a: RedisStore,
                                                    redis_db: RedisServer) -> None:  # fmt: skip
    with machine_a.lock("p", 5) as lease:
        lease.ensure(30)
        assert redis_db.client().pttl("t:lease:p") >= 30_000


@pytest.mark.slow
def test_a_lease_that_ran_out_is_reported_and_never_used(
    machine_a: RedisStore, machine_b: RedisStore, redis_db: RedisServer
) -> None:
    """Interleaving 6: A pauses longer than its lease; B takes it; A must not send."""
    with machine_a.lock("p", 5) as lease:
        lease._stop.set()  # type: ignore[attr-defined] # as if the process were paused
        time.sleep(1.1)
        assert not lease.still_held()
        with machine_b.lock("p", 1) as taken:
            assert taken.still_held()
            with pytest.raises(LeaseLostError) as caught:
                lease.ensure(10)
            assert caught.value.exit_code == ExitCode.TRANSIENT and "nothing was sent" in str(
                caught.value
            )
    assert redis_db.client().exists("t:lease:p") == 0


def test_a_lease_taken_over_is_detected_by_compare_and_extend(
    machine_a: RedisStore, redis_db: RedisServer
) -> None:
    """Interleaving 8: the store lost the lease key and another process took it."""
    with machine_a.lock("p", 5) as lease:
        redis_db.client().set("t:lease:p", "another-owner", px=5000)
        with pytest.raises(LeaseLostError):
            lease.ensure(5)
        assert not lease.still_held()


# --- the interleavings of two machines ---------------------------------------------------------


@pytest.mark.slow
def test_6c_cas_lost_after_rotation_keeps_the_new_tokens_and_the_stored_state_wins(
    machine_a: RedisStore, machine_b: RedisStore, tmp_path: Path
) -> None:
    machine_a.write("p", state_of(1), expected=0)
    with machine_a.lock("p", 5) as lease:
        base = machine_a.read("p")
        assert base is not None
        lease._stop.set()  # type: ignore[attr-defined]
        time.sleep(1.1)  # A's request is slow and A is paused: its lease runs out
        with machine_b.lock("p", 1):  # B refreshes from the same generation and stores first
            machine_b.write("p", state_of(2), expected=base.generation)
        with pytest.raises(StaleWriteError) as caught:  # A got its answer too (a grace period)
            machine_a.write("p", state_of(3), expected=base.generation)
    error = caught.value
    assert error.exit_code == ExitCode.TRANSIENT and "SECRET" not in error.message
    kept = Path(error.message.rsplit("kept in ", 1)[1])
    assert kept.parent == tmp_path / "a" and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert machine_b.read("p") == state_of(2).with_generation(2)  # B's state is untouched
    with machine_a.lock("p", 5):  # the next run: the store moved past A's base: B's wins
        assert machine_a.read("p") == state_of(2).with_generation(2)
    fallback = machine_a.kept("p")
    assert fallback is not None and fallback.rotated_refresh_token == "rt-0003"
    machine_a.write("p", state_of(4), expected=2)  # a successful refresh discards it
    assert machine_a.kept("p") is None and not kept.exists()


@pytest.mark.slow
def test_6a_a_late_write_of_a_lost_lease_still_succeeds_when_nothing_newer_was_stored(
    machine_a: RedisStore, machine_b: RedisStore
) -> None:
    machine_a.write("p", state_of(1), expected=0)
    with machine_a.lock("p", 5) as lease:
        lease._stop.set()  # type: ignore[attr-defined]
        time.sleep(1.1)
        assert not lease.still_held()
        assert machine_a.write("p", state_of(2), expected=1).generation == 2  # CAS, not lease
    assert machine_b.read("p") == state_of(2).with_generation(2)


@pytest.mark.slow
def test_7_store_down_at_the_write_then_the_next_lock_stores_the_kept_tokens(
    redis_private: RedisServer, tmp_path: Path, warnings_log: list[str]
) -> None:
    url = redis_private.url_for(0, query="timeout=0.5&lease=1")
    store = open_redis(url, tmp_path / "a")
    store.write("p", state_of(1), expected=0)
    with store.lock("p", 5):
        redis_private.kill()  # after the token request was sent
        with pytest.raises(TransientError, match="kept in"):
            store.write("p", state_of(2), expected=1)
    redis_private.restart()
    again = open_redis(url, tmp_path / "a")  # the next run on machine A
    with again.lock("p", 5):
        adopted = again.read("p")
    assert adopted is not None and adopted.rotated_refresh_token == "rt-0002"
    assert adopted.generation == 2 and again.kept("p") is None
    assert any("earlier run kept" in w for w in warnings_log)


@pytest.mark.slow
def test_7_store_restarted_while_the_lease_is_held_keeps_lease_and_state(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    url = redis_private.url_for(0, query="timeout=2&lease=3")
    store, other = open_redis(url, tmp_path / "a"), open_redis(url, tmp_path / "b")
    store.write("p", state_of(1), expected=0)
    with store.lock("p", 5) as lease:
        redis_private.kill()
        redis_private.restart()  # AOF: the lease (with its expiry) and the state are back
        with pytest.raises(TransientError, match="held the lock"), other.lock("p", 0.5):
            pass
        assert lease.still_held()
        assert store.write("p", state_of(2), expected=1).generation == 2
    assert other.read("p") == state_of(2).with_generation(2)


def test_8_store_went_back_then_the_kept_tokens_are_stored(
    machine_a: RedisStore, redis_db: RedisServer
) -> None:
    machine_a.write("p", state_of(1), expected=0)
    with pytest.raises(StaleWriteError):
        machine_a.write("p", state_of(2), expected=1 + 3)  # kept at base 4
    redis_db.flushall()  # lost data: the store is back at nothing stored
    with machine_a.lock("p", 5):
        adopted = machine_a.read("p")
    assert adopted is not None and adopted.rotated_refresh_token == "rt-0002"


# --- the local copy ----------------------------------------------------------------------------


@pytest.mark.slow
def test_local_copy_answers_without_the_server_and_holds_no_refresh_token(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    store = open_redis(redis_private.url_for(0), tmp_path)
    store.write("p", state_of(1), expected=0)
    [copy] = tmp_path.glob(".copy-*")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and b"rt-0001" not in copy.read_bytes()
    redis_private.kill()
    cached = open_redis(redis_private.url_for(0), tmp_path).read_cached("p")
    assert cached is not None and cached.token.access_token == "at-0001-SECRET"
    with pytest.raises(TransientError):
        store.read("p")


def test_local_copy_follows_the_shared_state(machine_a: RedisStore, machine_b: RedisStore) -> None:
    """Interleaving 9: replaced by every read and write; gone with the entry."""
    machine_a.write("p", state_of(1), expected=0)
    machine_b.write("p", state_of(2), expected=1)
    assert machine_a.read_cached("p").generation == 1  # type: ignore[union-attr]
    machine_a.read("p")  # the unlocked check against the store refreshes it
    assert machine_a.read_cached("p").generation == 2  # type: ignore[union-attr]
    machine_b.delete("p")  # forget on another machine
    assert machine_a.read_cached("p") is not None  # until A looks again…
    assert machine_a.read("p") is None and machine_a.read_cached("p") is None


def test_local_copy_is_bound_to_the_key(url: str, tmp_path: Path) -> None:
    key = "k" * 40
    open_redis(url, tmp_path, key).write("p", state_of(1), expected=0)
    assert open_redis(url, tmp_path, key).read_cached("p") is not None
    assert open_redis(url, tmp_path, "x" * 40).read_cached("p") is None  # a miss, not an error
    assert b"SECRET" not in b"".join(p.read_bytes() for p in tmp_path.glob(".copy-*"))


def test_the_cached_path_never_imports_redis_py(url: str, tmp_path: Path) -> None:
    open_redis(url, tmp_path).write("p", state_of(1), expected=0)
    code = textwrap.dedent("""
        import sys
        from oauthcli.store.opening import open_store
        from oauthcli.world import World
        store = open_store(World())
        assert store.read_cached("p") is not None
        assert store.read("p") is not None and store.inspect("p") != "absent"
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("redis", "cryptography")))
    """)
    env = {**os.environ, "OAUTHCLI_STORE": url, "OAUTHCLI_STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


# --- durability --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_server_without_aof_is_warned_about(redis_private: RedisServer, tmp_path: Path,
                                              warnings_log: list[str]) -> None:  # fmt: skip
    store = open_redis(redis_private.url_for(0), tmp_path)
    store.write("p", state_of(1), expected=0)
    assert not [w for w in warnings_log if "appendonly" in w]
    redis_private.client().config_set("appendonly", "no")
    store = open_redis(redis_private.url_for(0), tmp_path)
    store.write("p", state_of(2), expected=1)
    store.write("p", state_of(3), expected=2)
    assert len([w for w in warnings_log if "appendonly yes" in w]) == 1, warnings_log


def test_durability_uses_waitaof_where_the_server_has_it(machine_a: RedisStore,
                                                         redis_db: RedisServer) -> None:  # fmt: skip
    machine_a.write("p", state_of(1), expected=0)
    version = redis_db.client().info("server")["redis_version"]
    major, minor = (int(x) for x in version.split(".")[:2])
    expected = "waitaof" if (major, minor) >= (7, 2) else "wait"
    assert machine_a.client._durability == expected
