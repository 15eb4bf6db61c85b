"""The file store: one 0600 JSON file per grant in a 0700 state dir, and a flock per grant.

Writes are atomic and durable (store.fsutil); the compare-and-swap on ``generation`` is checked
against the file on disk, under the per-grant lock the driver holds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from oauthcli.errors import TransientError
from oauthcli.store import fsutil
from oauthcli.store.base import StaleWriteError, Status
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


class FileStore:
    def __init__(self, directory: os.PathLike[str] | str) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return str(self.directory)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def read(self, name: str) -> State | None:
        path = self.path(name)
        raw = fsutil.read_bytes(path)
        if raw is None:
            return None
        try:
            return State.from_json(raw.decode("utf-8"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            self._set_aside(path)
            return None

    def inspect(self, name: str) -> Status:
        path = self.path(name)
        if path.is_symlink():
            return "unsafe"
        try:
            return State.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return "absent"
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return "corrupt"

    def _set_aside(self, path: Path) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        # unique: two corrupt files set aside within one second must both survive
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.urandom(3).hex()}")
        os.replace(path, aside)
        log.warning("state file %s was corrupt; moved it to %s", path, aside.name)

    def write(self, name: str, state: State, expected: int) -> State:
        current = self.read(name)
        found = current.generation if current else 0
        if found != expected:
            raise StaleWriteError(
                f"the stored state of {name!r} changed while this process refreshed "
                f"(generation {found}, expected {expected})"
            )
        stored = state.with_generation(expected + 1)
        fsutil.atomic_write(self.directory, self.path(name), stored.to_json().encode("utf-8"))
        return stored

    def check_writable(self, name: str) -> None:
        fsutil.ensure_dir(self.directory)

    def delete(self, name: str) -> bool:
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            return False
        fsutil.fsync_dir(self.directory)
        return True

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not p.name.startswith("."))

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[_FlockLease]:
        """POSIX: flock(2) on a 0600 file, released by the kernel when the holder exits or dies.
        filelock (≈ 20–40 ms of imports per run) is only the fallback where fcntl is missing."""
        fsutil.ensure_dir(self.directory)
        path = self.directory / f"{name}.lock"
        try:
            import fcntl
        except ImportError:  # Windows
            with _filelock(path, name, timeout):
                yield _FlockLease()
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT | fsutil.NOFOLLOW, 0o600)
        try:
            _flock(fcntl, fd, name, timeout)
            yield _FlockLease()
        finally:
            os.close(fd)  # releases the lock


def _flock(fcntl: Any, fd: int, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise lock_timeout(name, timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def _filelock(path: Path, name: str, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise lock_timeout(name, timeout) from None
    try:
        yield
    finally:
        lock.release()


def lock_timeout(name: str, timeout: float) -> TransientError:
    return TransientError(
        f"another oauthcli process has held the lock for profile {name!r} "
        f"for more than {timeout:g}s",
        hint="try again; raise lock_timeout in the profile if refreshes are slow",
    )


def open(url: str, world: Any) -> FileStore:  # noqa: A001 - the backend registry's entry point
    return FileStore(world.state_dir)
