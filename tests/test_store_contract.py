"""The TokenStore contract (SPEC §6, §10): every promise, for every backend, through the API.

A new backend adds one entry to ``BACKENDS`` below (a factory that returns a :class:`Backend`:
how to open the store as a new process would, and how to reach its raw stored values); every
test here then runs over it, with and without encryption at rest (``KEYS``).

What the CLI does with a store (the driver, the commands) is tested elsewhere
(tests/test_store.py, tests/test_redis_store.py); here it is the store alone, opened by
``open_store`` from a World the way a run opens it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from oauthcli.errors import ConfigError, ExitCode, OAuthCliError, StateError, TransientError
from oauthcli.store.base import StaleWriteError, TokenStore
from oauthcli.store.opening import open_store
from oauthcli.store.state import State, fingerprint
from oauthcli.token import Token
from oauthcli.world import Options, World

KEY = "k" * 8 + "-contract-test-key-0123456789abcdef"
OTHER_KEY = "o" * 8 + "-another-key-of-enough-length-0000"
# Names as the driver builds them (SPEC §10 grant identity): every character that a file name
# or a Redis key could trip over.
ODD_NAME = "corp@https://id.example.com/o/token@my:cli id/{x}%2F*?[]\n"


NOW = time.time()


def state_of(n: int, access: str | None = None, expires_in: float = 3600) -> State:
    """A state as the driver writes it (deterministic: equal for equal arguments)."""
    now = NOW
    token = Token(access or f"at-{n:04d}-SECRET", "Bearer", now + expires_in, "read",
                  refresh_token=f"rt-{n:04d}-SECRET", obtained_at=now,
                  response={"access_token": access or f"at-{n:04d}-SECRET",
                            "refresh_token": f"rt-{n:04d}-SECRET", "extra": {"x": 1}})  # fmt: skip
    return State(token, f"rt-{n:04d}-SECRET", fingerprint("rt-initial"))


# --- backends -------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    env: dict[str, str]  # what a process needs to open this store (besides the state dir)
    state_dir: Path
    raw: Callable[[str], bytes | None]  # the stored value of a name, as it is at rest
    put_raw: Callable[[str, bytes], None]  # replace it (corruption, tampering)
    set_aside: Callable[[str], list[bytes]]  # the values set aside as corrupt
    shared: bool = False  # has a local copy per machine
    local_files: Callable[[], list[Path]] = field(default=lambda: [])

    def open(self, key: str | None = None, state_dir: Path | None = None) -> TokenStore:
        environ = {**os.environ, **self.env}
        environ.pop("OAUTHCLI_STORE_KEY", None)
        if key:
            environ["OAUTHCLI_STORE_KEY"] = key
        directory = state_dir or self.state_dir
        world = World(environ=environ, options=Options(state_dir=str(directory)))
        return open_store(world)

    def process_env(self, key: str | None) -> dict[str, str]:
        env = {**os.environ, **self.env, "OAUTHCLI_STATE_DIR": str(self.state_dir)}
        env.pop("OAUTHCLI_STORE_KEY", None)
        if key:
            env["OAUTHCLI_STORE_KEY"] = key
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), *sys.path])
        return env


def file_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    from oauthcli.store.keys import file_stem

    directory = tmp_path / "state"

    def path(name: str) -> Path:
        return directory / f"{file_stem(name)}.json"

    def raw(name: str) -> bytes | None:
        return path(name).read_bytes() if path(name).exists() else None

    def put_raw(name: str, data: bytes) -> None:
        directory.mkdir(mode=0o700, exist_ok=True)
        path(name).write_bytes(data)
        path(name).chmod(0o600)

    def set_aside(name: str) -> list[bytes]:
        return [p.read_bytes() for p in directory.glob(f"{path(name).name}.corrupt-*")]

    return Backend("file", {"OAUTHCLI_STORE": "file"}, directory, raw, put_raw, set_aside)


def redis_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A real redis-server (tests/redis_fixture.py), emptied for the test; a URL-encoded
    password full of special characters, and a prefix."""
    from oauthcli.store.keys import redis_key

    server = request.getfixturevalue("redis_db")
    client = server.client(decode_responses=False)
    request.addfinalizer(client.close)
    prefix = "ct"

    def raw(name: str) -> bytes | None:
        value: bytes | None = client.hget(redis_key(prefix, "state", name), "doc")
        return value

    def put_raw(name: str, data: bytes) -> None:
        client.hset(redis_key(prefix, "state", name),
                    mapping={"generation": b"1", "kid": b"", "doc": data})  # fmt: skip

    def set_aside(name: str) -> list[bytes]:
        keys = client.keys(redis_key(prefix, "corrupt", name).replace("[", "[[]") + ":*")
        return [client.hget(k, "doc") if client.type(k) == b"hash" else client.get(k) for k in keys]

    url = server.url_for(0, query=f"prefix={prefix}")
    return Backend("redis", {"OAUTHCLI_STORE": url}, tmp_path / "state", raw, put_raw, set_aside,
                   shared=True)  # fmt: skip


BACKENDS: list[Callable[[pytest.FixtureRequest, Path], Backend]] = [file_backend, redis_backend]
KEYS = [None, KEY]


@pytest.fixture(params=BACKENDS, ids=lambda f: f.__name__.removesuffix("_backend"))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    factory: Callable[[pytest.FixtureRequest, Path], Backend] = request.param
    return factory(request, tmp_path)


@pytest.fixture(params=KEYS, ids=["plain", "encrypted"])
def key(request: pytest.FixtureRequest) -> str | None:
    value: str | None = request.param
    return value


@pytest.fixture
def store(backend: Backend, key: str | None) -> TokenStore:
    return backend.open(key)


@pytest.fixture
def warnings_log() -> Iterator[list[str]]:
    """The warnings the store logs (the CLI prints them as `warning: …` lines)."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                seen.append(record.getMessage())

    logger = logging.getLogger("oauthcli")
    handler = Collect()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def local_files(backend: Backend) -> list[Path]:
    return (
        [p for p in backend.state_dir.rglob("*") if p.is_file()]
        if backend.state_dir.exists()
        else []
    )


# --- reading and writing: the compare-and-swap ----------------------------------------------


def test_empty_store(store: TokenStore) -> None:
    assert store.read("p") is None
    assert store.read_cached("p") is None
    assert store.inspect("p") == "absent"
    assert store.names() == []
    assert store.delete("p") is False
    assert store.kept("p") is None


def test_write_then_read_round_trips_and_generation_increments(store: TokenStore) -> None:
    first = store.write("p", state_of(1), expected=0)
    assert first.generation == 1
    assert store.read("p") == first
    second = store.write("p", state_of(2), expected=1)
    assert second.generation == 2
    read = store.read("p")
    assert read == second and read is not None
    assert read.rotated_refresh_token == "rt-0002-SECRET"
    assert read.token.response["extra"] == {"x": 1}
    assert store.inspect("p") == second


def test_a_new_process_sees_what_was_written(backend: Backend, key: str | None) -> None:
    backend.open(key).write("p", state_of(1), expected=0)
    assert (
        backend.open(key).read("p") == backend.open(key).read("p") == state_of(1).with_generation(1)
    )


@pytest.mark.parametrize("expected", [0, 2, 7])
def test_stale_write_raises_changes_nothing_and_keeps_the_new_tokens(
    store: TokenStore, backend: Backend, expected: int
) -> None:
    store.write("p", state_of(1), expected=0)
    raw_before = backend.raw("p")
    if expected == 0:
        pass  # stored generation is 1: expecting "nothing stored" is stale too
    with pytest.raises(StaleWriteError) as caught:
        store.write("p", state_of(9), expected=expected)
    assert caught.value.exit_code == ExitCode.TRANSIENT
    assert backend.raw("p") == raw_before
    assert store.read("p") == state_of(1).with_generation(1)
    # the tokens that could not be stored are kept, 0600, where the message says
    kept_path = Path(caught.value.message.rsplit("kept in ", 1)[1])
    assert kept_path.is_file() and stat.S_IMODE(kept_path.stat().st_mode) == 0o600
    assert kept_path.parent == backend.state_dir
    kept = store.kept("p")
    assert kept is not None and kept.rotated_refresh_token == "rt-0009-SECRET"
    assert "SECRET" not in caught.value.message


def test_kept_state_superseded_by_a_newer_one_stays_only_as_a_fallback(
    store: TokenStore, backend: Backend
) -> None:
    store.write("p", state_of(1), expected=0)
    with pytest.raises(StaleWriteError):
        store.write("p", state_of(2), expected=0)  # based on 0; another process stored 1
    with store.lock("p", 5):  # 1 > 0: the stored state wins, the kept one is not adopted
        assert store.read("p") == state_of(1).with_generation(1)
    assert store.kept("p") is not None  # a fallback until the next successful write
    store.write("p", state_of(3), expected=1)
    assert store.kept("p") is None


def test_kept_state_is_adopted_when_the_store_is_not_past_its_base(
    store: TokenStore, backend: Backend, warnings_log: list[str]
) -> None:
    """The write failed (or the store lost it) at generation 1: the next lock stores it."""
    store.write("p", state_of(1), expected=0)
    with pytest.raises(StaleWriteError):
        store.write("p", state_of(2), expected=4)  # kept with base 4 ≥ stored 1
    with store.lock("p", 5):
        adopted = store.read("p")
    assert adopted is not None and adopted.rotated_refresh_token == "rt-0002-SECRET"
    assert adopted.generation == 2
    assert store.kept("p") is None
    assert any("earlier run kept" in w for w in warnings_log), warnings_log
    assert not [p for p in local_files(backend) if ".kept-" in p.name]


def test_names_are_arbitrary_strings(store: TokenStore, backend: Backend) -> None:
    names = ["p", ODD_NAME, "p@a", "p@b", "x" * 300, "../../etc/passwd", ".hidden", "p.json"]
    for i, name in enumerate(names, 1):
        store.write(name, state_of(i), expected=0)
    assert store.names() == sorted(names)
    for i, name in enumerate(names, 1):
        read = store.read(name)
        assert read is not None and read.rotated_refresh_token == f"rt-{i:04d}-SECRET", name
    if backend.name == "file":  # SPEC §6 layout: the profile name, then `.` or `@`
        stems = {p.name.split("@")[0].split(".")[0] for p in backend.state_dir.glob("*.json")}
        assert stems == {"p", "corp", "grant"}
        assert not list(backend.state_dir.parent.rglob("passwd"))
    assert store.delete(ODD_NAME) is True
    assert store.read(ODD_NAME) is None and store.read("p@a") is not None
    assert store.names() == sorted(set(names) - {ODD_NAME})


def test_delete(store: TokenStore, backend: Backend) -> None:
    store.write("p", state_of(1), expected=0)
    store.write("q", state_of(2), expected=0)
    assert store.delete("p") is True
    assert store.delete("p") is False
    assert store.read("p") is None and store.read_cached("p") is None
    assert store.names() == ["q"]
    assert store.write("p", state_of(3), expected=0).generation == 1  # a fresh start


def test_inspect_changes_nothing(store: TokenStore, backend: Backend) -> None:
    backend.put_raw("p", b'{"token": {"access_tok')
    assert store.inspect("p") == "corrupt"
    assert backend.raw("p") == b'{"token": {"access_tok'
    assert backend.set_aside("p") == []


def test_read_cached_never_holds_a_refresh_token_of_a_shared_store(
    store: TokenStore, backend: Backend
) -> None:
    written = store.write("p", state_of(1), expected=0)
    cached = store.read_cached("p")
    assert cached is not None
    assert cached.token.access_token == written.token.access_token
    assert cached.generation == written.generation
    if backend.shared:
        assert cached.rotated_refresh_token is None and cached.token.refresh_token is None
        assert "rt-0001" not in json.dumps(cached.to_dict())


# --- corrupt entries ------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b'{"token": {"access_tok', b"\xff\xfe", b"[]", b'{"version": 99}',
                                     b"", b'{"version": 1, "token": "x"}'])  # fmt: skip
def test_corrupt_entry_is_set_aside_under_the_lock_and_reported(
    backend: Backend, key: str | None, garbage: bytes, warnings_log: list[str]
) -> None:
    store = backend.open(key)
    backend.put_raw("p", garbage)
    assert store.read("p") is None  # without the lock: read as nothing, left where it is
    assert backend.raw("p") == garbage and backend.set_aside("p") == []
    with store.lock("p", 5):
        assert store.read("p") is None
        assert backend.set_aside("p") == [garbage]  # moved, never deleted
        assert backend.raw("p") is None
        assert store.write("p", state_of(1), expected=0).generation == 1
    assert any("corrupt" in w for w in warnings_log), warnings_log


def test_two_corrupt_entries_in_a_row_are_both_kept(backend: Backend, key: str | None) -> None:
    store = backend.open(key)
    for garbage in (b"first{", b"second{"):
        backend.put_raw("p", garbage)
        with store.lock("p", 5):
            assert store.read("p") is None
    assert sorted(backend.set_aside("p")) == [b"first{", b"second{"]


# --- the lock -------------------------------------------------------------------------------


def test_lock_timeout_is_a_transient_error(backend: Backend, key: str | None) -> None:
    holder, waiter = backend.open(key), backend.open(key)
    with holder.lock("p", 5) as lease:
        assert lease.still_held()
        started = time.monotonic()
        with pytest.raises(TransientError) as caught, waiter.lock("p", 0.3):
            pass
        assert time.monotonic() - started >= 0.3
    assert caught.value.exit_code == ExitCode.TRANSIENT
    assert "held the lock for profile 'p'" in caught.value.message
    with waiter.lock("p", 1) as lease:  # released: free again
        assert lease.still_held()


def test_lock_is_per_name_and_reentrant_in_a_thread(backend: Backend, key: str | None) -> None:
    store, other = backend.open(key), backend.open(key)
    with store.lock("p", 5), store.lock("p", 0.1), other.lock("q", 0.5):
        store.write("p", state_of(1), expected=0)  # write inside the caller's lock
        with pytest.raises(TransientError), other.lock("p", 0.2):
            pass


def test_lock_excludes_other_threads_of_the_process(backend: Backend, key: str | None) -> None:
    store = backend.open(key)
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.lock("p", 5):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(5)
    try:
        with pytest.raises(TransientError), store.lock("p", 0.2):
            pass
    finally:
        release.set()
        thread.join()


def test_a_lease_outlasts_what_it_is_asked_to(store: TokenStore) -> None:
    with store.lock("p", 5) as lease:
        lease.ensure(20)
        assert lease.still_held()


def test_a_write_without_the_lock_is_still_a_compare_and_swap(
    backend: Backend, key: str | None
) -> None:
    """Two writes from generation 0, one under the lock and one without: exactly one wins."""
    holder, writer = backend.open(key), backend.open(key)
    done: list[Any] = []
    with holder.lock("p", 5):
        thread = threading.Thread(
            target=lambda: done.append(_try(writer.write, "p", state_of(2), 0))
        )
        thread.start()
        time.sleep(0.2)
        done.append(_try(holder.write, "p", state_of(1), 0))
    thread.join(10)
    winners = [r for r in done if isinstance(r, State)]
    assert len(winners) == 1 and len([r for r in done if isinstance(r, StaleWriteError)]) == 1
    assert holder.read("p") == winners[0] and winners[0].generation == 1


def _try(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except OAuthCliError as exc:
        return exc


# --- many processes -------------------------------------------------------------------------

WORKER = textwrap.dedent("""
    import os, sys, time
    from oauthcli.store.opening import open_store
    from oauthcli.store.state import State
    from oauthcli.token import Token
    from oauthcli.world import World
    store = open_store(World())
    sys.stdin.readline()  # all start together
    with store.lock("p", 60) as lease:
        state = store.read("p")
        if state is not None and state.token.expires_at > time.time() + 60:
            print("reused", state.token.access_token, flush=True)
        else:
            lease.ensure(10)
            time.sleep(0.2)  # the token request
            n = (state.generation if state else 0) + 1
            token = Token(f"at-{n}", "Bearer", time.time() + 3600, obtained_at=time.time())
            stored = store.write("p", State(token, f"rt-{n}"), state.generation if state else 0)
            print("refreshed", stored.token.access_token, flush=True)
""")


@pytest.mark.slow
def test_many_processes_refresh_once(backend: Backend, key: str | None) -> None:
    env = backend.process_env(key)
    store = backend.open(key)
    store.write("p", state_of(1, expires_in=-10), expected=0)  # stored, expired
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(12)]  # fmt: skip
    time.sleep(0.5)
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12, outputs
    lines = sorted(out.strip() for out, _ in outputs)
    assert lines.count("refreshed at-2") == 1, lines
    assert lines.count("reused at-2") == 11, lines
    assert store.read("p") is not None and store.read("p").generation == 2  # type: ignore[union-attr]


# --- crash safety ---------------------------------------------------------------------------

CRASHER = textwrap.dedent("""
    import sys, time
    from oauthcli.store.opening import open_store
    from oauthcli.store.state import State
    from oauthcli.token import Token
    from oauthcli.world import World
    store = open_store(World())
    for n in range(int(sys.argv[1]), 10**6):
        token = Token(f"at-{n}-" + "x" * 4000, "Bearer", time.time() + 3600, obtained_at=time.time())
        with store.lock("p", 30):
            current = store.read("p")
            store.write("p", State(token, f"rt-{n}"), current.generation if current else 0)
        print(n, flush=True)
""")


@pytest.mark.parametrize("point", ["before_fsync", "before_rename", "before_dir_fsync"])
def test_sigkill_at_each_crash_point_leaves_old_or_new_state(
    backend: Backend, key: str | None, point: str
) -> None:
    if backend.name != "file":
        pytest.skip("crash points are in the file writer; a shared store writes in one script")
    store = backend.open(key)
    store.write("p", state_of(1)._replace(rotated_refresh_token="rt-old"), expected=0)
    env = {**backend.process_env(key), "OAUTHCLI_TEST_CRASH_AT": point}
    done = subprocess.run([sys.executable, "-c", CRASHER, "2"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    read = backend.open(key).read("p")  # always decodes: the old state or the new one
    assert read is not None
    completed = point == "before_dir_fsync"  # the rename happened: the write completed
    assert read.rotated_refresh_token == ("rt-2" if completed else "rt-old")
    assert backend.set_aside("p") == []


@pytest.mark.slow
def test_sigkill_at_random_moments_never_tears_an_entry(backend: Backend, key: str | None) -> None:
    import random

    rng = random.Random(4321)
    env = backend.process_env(key)
    last = 0
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(last + 1)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(rng.uniform(0.3, 0.8))
        proc.kill()
        out, err = proc.communicate()
        reported = [int(line) for line in out.split()]
        read = backend.open(key).read("p")
        assert read is not None or not reported, err
        if read is not None:
            stored = int(read.rotated_refresh_token.removeprefix("rt-"))  # type: ignore[union-attr]
            assert stored >= (reported[-1] if reported else last), (stored, reported)
            last = stored
        assert backend.set_aside("p") == []


# --- files of this machine: modes -----------------------------------------------------------

MODES = textwrap.dedent("""
    import os, time
    os.umask(0)
    from oauthcli.store.opening import open_store
    from oauthcli.store.state import State
    from oauthcli.token import Token
    from oauthcli.world import World
    store = open_store(World())
    token = Token("at-1", "Bearer", time.time() + 3600, obtained_at=time.time())
    with store.lock("p", 10):
        store.write("p", State(token, "rt-1"), 0)
    store.read_cached("p")
    try:
        store.write("p", State(token, "rt-2"), 0)   # stale: kept locally
    except Exception as exc:
        print(type(exc).__name__)
""")


def test_modes_are_0700_and_0600_whatever_the_umask(backend: Backend, key: str | None) -> None:
    done = subprocess.run([sys.executable, "-c", MODES], env=backend.process_env(key),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "StaleWriteError", done.stderr
    assert stat.S_IMODE(backend.state_dir.stat().st_mode) == 0o700
    files = local_files(backend)
    assert any(".kept-" in p.name for p in files)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_unsafe_state_dir_is_refused_on_read_and_write(
    backend: Backend, key: str | None
) -> None:
    store = backend.open(key)
    store.write("p", state_of(1), expected=0)
    os.chmod(backend.state_dir, 0o777)
    try:
        attempts: list[Callable[[], object]] = [lambda: store.check_writable("p")]
        if not backend.shared:  # a shared store keeps only caches and kept states here
            attempts += [lambda: store.write("p", state_of(2), 1), lambda: store.read("p")]
        for attempt in attempts:
            with pytest.raises(StateError) as caught:
                attempt()
            assert caught.value.exit_code == ExitCode.CONFIG
            assert "writable by other users" in caught.value.message
    finally:
        os.chmod(backend.state_dir, 0o700)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_a_non_regular_file_at_a_state_path_is_refused_unopened(
    backend: Backend, key: str | None, kind: str, tmp_path: Path
) -> None:
    if backend.name != "file":
        pytest.skip("the shared store keeps no state file; its local copy is a cache")
    from oauthcli.store.keys import file_stem

    store = backend.open(key)
    backend.state_dir.mkdir(mode=0o700)
    path = backend.state_dir / f"{file_stem('p')}.json"
    if kind == "symlink":
        (tmp_path / "target").write_text("{}")
        path.symlink_to(tmp_path / "target")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    with pytest.raises(StateError) as caught:
        store.read("p")  # a FIFO would hang a reader that opened it
    assert caught.value.exit_code == ExitCode.CONFIG
    with pytest.raises(StateError):
        store.check_writable("p")
    assert store.inspect("p") == "unsafe"


# --- encryption at rest ---------------------------------------------------------------------


def test_raw_values_hold_no_token_when_encrypted(backend: Backend) -> None:
    store = backend.open(KEY)
    store.write("p", state_of(1), expected=0)
    store.read_cached("p")
    with pytest.raises(StaleWriteError):
        store.write("p", state_of(2), expected=0)  # a kept file too
    raw = backend.raw("p") or b""
    assert b"SECRET" not in raw and b"at-0001" not in raw
    for path in local_files(backend):
        assert b"SECRET" not in path.read_bytes(), path


def test_wrong_key_is_a_config_error_that_overwrites_nothing(backend: Backend) -> None:
    backend.open(KEY).write("p", state_of(1), expected=0)
    before = backend.raw("p")
    wrong = backend.open(OTHER_KEY)
    for attempt in (lambda: wrong.read("p"), lambda: wrong.write("p", state_of(2), 1),
                    lambda: wrong.inspect("p")):  # fmt: skip
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert caught.value.exit_code == ExitCode.CONFIG
        assert "different store.key" in caught.value.message
    with pytest.raises(ConfigError), wrong.lock("p", 5):  # not "corrupt": never set aside
        wrong.read("p")
    assert backend.raw("p") == before and backend.set_aside("p") == []
    assert backend.open(KEY).read("p") == state_of(1).with_generation(1)


def test_no_key_for_an_encrypted_store_and_a_key_for_a_plain_one(backend: Backend) -> None:
    backend.open(KEY).write("p", state_of(1), expected=0)
    with pytest.raises(ConfigError, match="encrypted and the store has no key"):
        backend.open(None).read("p")
    backend.open(None).write("q", state_of(2), expected=0)
    with pytest.raises(ConfigError, match="not encrypted"):
        backend.open(KEY).read("q")


def test_plaintext_is_adopted_only_when_asked(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.open(None).write("q", state_of(2), expected=0)
    monkeypatch.setenv("OAUTHCLI_STORE_ADOPT_PLAINTEXT", "1")
    store = backend.open(KEY)
    assert store.read("q") == state_of(2).with_generation(1)
    store.write("q", state_of(3), expected=1)
    assert b"SECRET" not in (backend.raw("q") or b"")


@pytest.mark.parametrize("where", ["ciphertext", "generation", "name"])
def test_tampered_value_is_a_config_error_that_overwrites_nothing(
    backend: Backend, where: str
) -> None:
    store = backend.open(KEY)
    store.write("p", state_of(1), expected=0)
    envelope = json.loads(backend.raw("p") or b"")
    if where == "ciphertext":
        ct = bytearray(envelope["sealed"]["ct"].encode())
        ct[10] = ord("A") if ct[10] != ord("A") else ord("B")
        envelope["sealed"]["ct"] = ct.decode()
    elif where == "generation":
        envelope["generation"] = 5
    else:
        envelope["name"] = "q"
    tampered = json.dumps(envelope).encode()
    backend.put_raw("p", tampered)
    with pytest.raises(OAuthCliError) as caught:  # ConfigError, or StateError (another grant)
        backend.open(KEY).read("p")
    assert caught.value.exit_code == ExitCode.CONFIG
    with pytest.raises(OAuthCliError):
        backend.open(KEY).write("p", state_of(2), 1)
    assert backend.raw("p") == tampered and backend.set_aside("p") == []


def test_a_short_key_is_refused() -> None:
    from oauthcli.store.crypto import Sealer

    with pytest.raises(ConfigError, match="too short"):
        Sealer("hunter2")
