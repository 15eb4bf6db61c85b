"""The file store: one 0600 JSON file per grant in a 0700 state dir, and a flock per grant.

Writes are atomic and durable (store.fsutil) and a compare-and-swap on ``generation``, checked
against the file on disk under the grant's lock (taken by ``write`` itself when the caller does
not hold it). Corrupt files are set aside only under the lock, so a reader can never move a
file that a writer has just replaced. Layout (SPEC §6): ``<name>.json`` and ``<name>.lock`` for
a name that is a safe file name, ``<profile>@<digest>.json`` for any other (store.keys).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from oauthcli.errors import StateError, TransientError
from oauthcli.store import fsutil
from oauthcli.store.base import DEFAULT_LOCK_TIMEOUT, StaleWriteError, Status, lock_timeout_error
from oauthcli.store.codec import Codec, CorruptEntry, stored_name
from oauthcli.store.keys import file_stem, profile_of
from oauthcli.store.local import LocalState, kept_error, reconcile
from oauthcli.store.state import State

log = logging.getLogger("oauthcli.store")


def default_dir(option: str | None, environ: Mapping[str, str]) -> Path:
    """--state-dir, then $OAUTHCLI_STATE_DIR, then platformdirs' user state dir."""
    if option:
        return Path(option).expanduser()
    if environ.get("OAUTHCLI_STATE_DIR"):
        return Path(environ["OAUTHCLI_STATE_DIR"]).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("oauthcli"))


class _FlockLease:
    def still_held(self) -> bool:
        return True  # the kernel holds a flock until the process closes it or dies

    def ensure(self, seconds: float) -> None:
        pass  # never runs out


class FileStore:
    def __init__(self, directory: os.PathLike[str] | str, codec: Codec | None = None) -> None:
        self.directory = Path(directory)
        self.codec = codec or Codec()
        self.local = LocalState(self.directory, f"file:{self.directory}", self.codec)
        self._held = threading.local()  # names whose lock this thread holds → depth
        self._warned = False

    def describe(self) -> str:
        return str(self.directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{file_stem(name)}.json"

    def _holds(self, name: str) -> bool:
        return bool(getattr(self._held, "names", {}).get(name))

    def _dir_exists(self) -> bool:
        try:
            readable = fsutil.check_dir(self.directory)
        except StateError:
            if not os.path.lexists(self.directory):
                return False
            raise
        self._warn_readable(readable)
        return True

    def _warn_readable(self, readable: bool) -> None:
        if readable and not self._warned:
            self._warned = True
            mode = os.stat(self.directory).st_mode & 0o777
            log.warning("state directory %s is accessible by other users (mode %o); chmod 700 it",
                        self.directory, mode)  # fmt: skip

    # --- reading -------------------------------------------------------------------------

    def read(self, name: str) -> State | None:
        if not self._dir_exists():
            return None
        path = self.path(name)
        raw = fsutil.read_bytes(path)
        if raw is None:
            return None
        try:
            return self.codec.decode(name, raw, f"state file {path}")
        except CorruptEntry:
            if self._holds(name):
                self._set_aside(path, raw)
            return None

    def read_cached(self, name: str) -> State | None:
        return self.read(name)

    def inspect(self, name: str) -> Status:
        path = self.path(name)
        try:
            if not self._dir_exists():
                return "absent"
            raw = fsutil.read_bytes(path)
        except StateError:
            return "unsafe"
        if raw is None:
            return "absent"
        try:
            return self.codec.decode(name, raw, f"state file {path}")
        except CorruptEntry:
            return "corrupt"

    def _set_aside(self, path: Path, raw: bytes) -> None:
        if fsutil.read_bytes(path) != raw:
            return  # replaced since it was read (cannot happen under the lock; cheap to check)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        # unique: two corrupt files set aside within one second must both survive
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.urandom(3).hex()}")
        os.replace(path, aside)
        fsutil.fsync_dir(self.directory)
        log.warning("state file %s was corrupt; moved it to %s", path, aside.name)

    def names(self) -> list[str]:
        if not self._dir_exists():
            return []
        found = []
        for path in self.directory.glob("*.json"):
            if path.name.startswith("."):
                continue
            if "@" not in path.stem:
                found.append(path.stem)
                continue
            with contextlib.suppress(OSError, StateError):
                name = stored_name(fsutil.read_bytes(path) or b"")
                if name is not None and self.path(name) == path:
                    found.append(name)
        return sorted(found)

    # --- writing -------------------------------------------------------------------------

    def write(self, name: str, state: State, expected: int) -> State:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self.lock(name, DEFAULT_LOCK_TIMEOUT))
            except TransientError as exc:
                raise self._kept_error(name, state, expected, exc.message) from None
            return self._write_locked(name, state, expected)
        raise AssertionError("unreachable")  # pragma: no cover - for mypy

    def _write_locked(self, name: str, state: State, expected: int) -> State:
        current = self.read(name)  # a wrong key fails here: nothing is overwritten
        found = current.generation if current else 0
        if found != expected:
            why = (f"the stored state of {profile_of(name)!r} changed while this process "
                   f"refreshed (generation {found}, expected {expected})")  # fmt: skip
            raise self._kept_error(name, state, expected, why)
        stored = state.with_generation(expected + 1)
        path = self.path(name)
        try:
            fsutil.atomic_write(self.directory, path, self.codec.encode(name, stored))
        except OSError as exc:
            why = f"cannot write state file {path}: {exc.strerror}"
            raise self._kept_error(name, state, expected, why, StateError) from None
        self.local.discard_kept(name)
        return stored

    def _kept_error(self, name: str, state: State, base: int, why: str,
                    kind: type[StateError] = StaleWriteError) -> StateError:  # fmt: skip
        return kept_error(self.local, name, state, base, why, kind)

    def check_writable(self, name: str) -> None:
        self._warn_readable(fsutil.ensure_dir(self.directory))
        path = self.path(name)
        fsutil.read_bytes(path)  # a symlink, FIFO or directory there is refused now
        try:
            fsutil.probe_write(self.directory)
        except OSError as exc:
            raise StateError(
                f"cannot write to the state directory {self.directory}: {exc.strerror}",
                hint="nothing was sent: the token endpoint was not called",
            ) from None

    def delete(self, name: str) -> bool:
        with self.lock(name, DEFAULT_LOCK_TIMEOUT):
            self.local.discard_kept(name)
            return fsutil.unlink(self.directory, self.path(name))

    def kept(self, name: str) -> State | None:
        kept = self.local.kept(name)
        return kept[-1].state if kept else None

    # --- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[_FlockLease]:
        """POSIX: flock(2) on a 0600 file, released by the kernel when the holder exits or dies.
        filelock (≈ 20–40 ms of imports per run) is only the fallback where fcntl is missing."""
        held: dict[str, int] = self._held.__dict__.setdefault("names", {})
        if held.get(name):
            held[name] += 1
            try:
                yield _FlockLease()
            finally:
                held[name] -= 1
            return
        self._warn_readable(fsutil.ensure_dir(self.directory))
        with os_lock(self.directory / f"{file_stem(name)}.lock", name, timeout):
            held[name] = 1
            try:
                reconcile(self.local, name, self.read, self._write_locked)
                yield _FlockLease()
            finally:
                held[name] = 0


@contextlib.contextmanager
def os_lock(path: Path, name: str, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``path`` (0600), held by this process for the block."""
    try:
        import fcntl
    except ImportError:  # Windows
        with _filelock(path, name, timeout):
            yield
        return
    fd = _open_lock_file(path)
    try:
        _flock(fcntl, fd, name, timeout)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(path: Path) -> int:
    """The lock file, 0600; a directory, FIFO or symlink there is refused (exit 3), as is a
    state dir where it cannot be created (read-only: a fresh token is still served)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | fsutil.NOFOLLOW | fsutil.NONBLOCK, 0o600)
    except OSError as exc:
        if os.path.lexists(path) and not os.path.isfile(path) or os.path.islink(path):
            raise _odd_lock_file(path) from None
        raise StateError(
            f"cannot open the lock file {path} in the state directory: {exc.strerror}",
            hint="nothing was sent to the token endpoint",
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _odd_lock_file(path)
    return fd


def _odd_lock_file(path: Path) -> StateError:
    return StateError(f"lock file {path} is not a regular file; refusing to use it",
                      hint="remove it: oauthcli creates its lock files itself")  # fmt: skip


def _flock(fcntl: Any, fd: int, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise lock_timeout_error(profile_of(name), timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def _filelock(path: Path, name: str, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise lock_timeout_error(profile_of(name), timeout) from None
    try:
        yield
    finally:
        lock.release()


def open(url: str, world: Any, codec: Codec | None = None) -> FileStore:  # noqa: A001
    """The backend registry's entry point: ``file`` is the state dir of SPEC §6."""
    return FileStore(world.state_dir, codec)
