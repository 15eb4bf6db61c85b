"""Files in the state dir: a 0700 directory, 0600 files written atomically and durably.

Shared by the file store and the local cache, so both keep the promises of SPEC §6: a temp file
(O_EXCL, O_NOFOLLOW, 0600 before any byte is written), fsync, ``os.replace``, fsync of the
directory. A crash leaves the old or the new file, never a torn one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
from pathlib import Path

from oauthcli.errors import StateError

log = logging.getLogger("oauthcli.store")
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def crash_point(name: str) -> None:
    """Test hook: the crash-safety tests SIGKILL the process at a named point of a write."""
    if os.environ.get("OAUTHCLI_TEST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def ensure_dir(directory: Path) -> None:
    try:
        os.makedirs(directory.parent, exist_ok=True)
        os.mkdir(directory, 0o700)
        os.chmod(directory, 0o700)  # umask-proof; the directory is still empty
    except FileExistsError:
        check_dir(directory)
    except OSError as exc:
        raise StateError(f"cannot create state directory {directory}: {exc}") from None


def check_dir(directory: Path) -> None:
    try:
        info = os.lstat(directory)
    except OSError as exc:
        raise StateError(f"cannot use state directory {directory}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"state directory {directory} is not a directory")
    if info.st_mode & 0o077:
        log.warning(
            "state directory %s is accessible by other users (mode %o); chmod 700 it",
            directory,
            stat.S_IMODE(info.st_mode),
        )


def unusable(path: Path, exc: OSError) -> StateError:
    if path.is_symlink():
        return StateError(
            f"state file {path} is a symbolic link; refusing to follow it",
            hint="remove the link; oauthcli creates its state files itself",
        )
    return StateError(f"cannot read state file {path}: {exc.strerror}")


def read_bytes(path: Path) -> bytes | None:
    """The file's content, or None when absent; a symlink or unreadable file is a StateError."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise unusable(path, exc) from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def atomic_write(directory: Path, target: Path, data: bytes) -> None:
    """Atomically replace ``target`` (inside ``directory``) with a 0600 file holding ``data``."""
    ensure_dir(directory)
    if target.is_symlink():
        raise unusable(target, OSError(0, "symbolic link"))
    temp = directory / f".{target.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # umask-proof, before any secret is written
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
