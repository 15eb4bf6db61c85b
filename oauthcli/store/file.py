"""Per-profile state: stored tokens, the rotated refresh token, and the inter-process lock.

Writes are temp file (0600, O_EXCL, O_NOFOLLOW) + fsync + atomic rename + directory fsync, so a
crash leaves the old or the new file, never a torn one (SPEC §6).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oauthcli.errors import StateError, TransientError
from oauthcli.token import Token

log = logging.getLogger("oauthcli.store")
VERSION = 1


def default_dir(option: str | None, environ: Mapping[str, str]) -> Path:
    """--state-dir, then $OAUTHCLI_STATE_DIR, then platformdirs' user state dir."""
    if option:
        return Path(option).expanduser()
    if environ.get("OAUTHCLI_STATE_DIR"):
        return Path(environ["OAUTHCLI_STATE_DIR"]).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("oauthcli"))


def fingerprint(refresh_token: str | None) -> str | None:
    if not refresh_token:
        return None
    import hashlib  # here, not at the top: OpenSSL's start-up is off the cached token path

    return hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class State:
    token: Token
    rotated_refresh_token: str | None = None
    refresh_token_fingerprint: str | None = None  # of the configured initial refresh token

    def to_json(self) -> str:
        data = asdict(self)
        data["token"] = self.token.to_dict()
        data["version"] = VERSION
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("not a state file of this version")
        return cls(
            token=Token.from_dict(data["token"]),
            rotated_refresh_token=data.get("rotated_refresh_token"),
            refresh_token_fingerprint=data.get("refresh_token_fingerprint"),
        )

    def current_refresh_token(self, configured: str | None) -> str | None:
        """The rotated token, unless a person has configured a different one since."""
        if self.rotated_refresh_token and self.refresh_token_fingerprint == fingerprint(configured):
            return self.rotated_refresh_token
        return configured or self.rotated_refresh_token


def crash_point(name: str) -> None:
    """Test hook: the crash-safety tests SIGKILL the process at a named point of a write."""
    if os.environ.get("OAUTHCLI_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, profile: str) -> Path:
        return self.directory / f"{profile}.json"

    # -- reading --

    def read(self, profile: str) -> State | None:
        """The stored state, or None. A corrupt file is moved aside and reported."""
        path = self.path(profile)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unusable(path, exc) from None
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read()
        try:
            return State.from_json(raw.decode("utf-8"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            self._set_aside(path)
            return None

    def status(self, profile: str) -> State | str | None:
        """For `list`: the state, None, or 'corrupt' (without moving anything)."""
        path = self.path(profile)
        if path.is_symlink():
            return "unsafe"
        try:
            return State.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return "corrupt"

    def _unusable(self, path: Path, exc: OSError) -> StateError:
        if path.is_symlink():
            return StateError(
                f"state file {path} is a symbolic link; refusing to follow it",
                hint="remove the link; oauthcli creates its state files itself",
            )
        return StateError(f"cannot read state file {path}: {exc.strerror}")

    def _set_aside(self, path: Path) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        # unique: two corrupt files set aside within one second must both survive
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.urandom(3).hex()}")
        os.replace(path, aside)
        log.warning("state file %s was corrupt; moved it to %s", path, aside.name)

    # -- writing --

    def ensure_dir(self) -> None:
        try:
            os.makedirs(self.directory.parent, exist_ok=True)
            os.mkdir(self.directory, 0o700)
            os.chmod(self.directory, 0o700)  # umask-proof; the directory is still empty
        except FileExistsError:
            self._check_dir()
        except OSError as exc:
            raise StateError(f"cannot create state directory {self.directory}: {exc}") from None

    def _check_dir(self) -> None:
        try:
            info = os.lstat(self.directory)
        except OSError as exc:
            raise StateError(
                f"cannot use state directory {self.directory}: {exc.strerror}"
            ) from None
        if not stat.S_ISDIR(info.st_mode):
            raise StateError(f"state directory {self.directory} is not a directory")
        if info.st_mode & 0o077:
            log.warning(
                "state directory %s is accessible by other users (mode %o); chmod 700 it",
                self.directory,
                stat.S_IMODE(info.st_mode),
            )

    def write(self, profile: str, state: State) -> None:
        self.write_text(self.path(profile), state.to_json())

    def write_text(self, target: Path, text: str) -> None:
        """Atomically replace ``target`` (inside the state dir) with a 0600 file."""
        self.ensure_dir()
        if target.is_symlink():
            raise self._unusable(target, OSError(0, "symbolic link"))
        temp = self.directory / f".{target.name}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # umask-proof, before any secret is written
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                crash_point("before_fsync")
                os.fsync(handle.fileno())
            crash_point("before_rename")
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        crash_point("before_dir_fsync")
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def delete(self, profile: str) -> bool:
        try:
            os.unlink(self.path(profile))
        except FileNotFoundError:
            return False
        self._fsync_dir()
        return True

    def profiles(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not p.name.startswith("."))

    # -- locking --

    @contextlib.contextmanager
    def lock(self, profile: str, timeout: float) -> Iterator[None]:
        """The per-profile inter-process lock; waiting longer than ``timeout`` is exit 5.

        POSIX: flock(2) on a 0600 file, released by the kernel when the holder exits or dies.
        filelock (≈ 20–40 ms of imports per run) is only the fallback where fcntl is missing.
        """
        self.ensure_dir()
        path = self.directory / f"{profile}.lock"
        try:
            import fcntl
        except ImportError:  # Windows
            with _filelock(path, profile, timeout):
                yield
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            _flock(fcntl, fd, profile, timeout)
            yield
        finally:
            os.close(fd)  # releases the lock


def _flock(fcntl: Any, fd: int, profile: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _lock_timeout(profile, timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@contextlib.contextmanager
def _filelock(path: Path, profile: str, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise _lock_timeout(profile, timeout) from None
    try:
        yield
    finally:
        lock.release()


def _lock_timeout(profile: str, timeout: float) -> TransientError:
    return TransientError(
        f"another oauthcli process has held the lock for profile {profile!r} "
        f"for more than {timeout:g}s",
        hint="try again; raise lock_timeout in the profile if refreshes are slow",
    )
