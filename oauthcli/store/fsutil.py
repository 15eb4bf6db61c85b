"""Files in the state dir: a 0700 directory, 0600 files written atomically and durably.

Shared by the file store, the local copy of a shared store and the local cache, so all keep
the promises of SPEC §6: a temp file (O_EXCL, O_NOFOLLOW, 0600 before any byte is written),
fsync, ``os.replace``, fsync of the directory. A crash leaves the old or the new file, never a
torn one. The directory is trusted only when it is safe (SPEC §13): a real directory, the
user's own, writable by nobody else — checked on the read path as well as the write path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from oauthcli.errors import StateError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# posix_fallocate unsupported for this file or filesystem (glibc emulates most of the others)
_NO_FALLOCATE = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
MAX_READ = 1 << 20  # no state file is near this; a larger one is not ours


def crash_point(name: str) -> None:
    """Test hook: the crash-safety tests SIGKILL the process at a named point of a write."""
    if os.environ.get("OAUTHCLI_TEST_CRASH_AT") == name:
        import signal  # only here: the module costs a millisecond on every refresh

        os.kill(os.getpid(), signal.SIGKILL)


def ensure_dir(directory: Path) -> bool:
    """Create the 0700 directory, or check the existing one; True if others may read it."""
    try:
        os.makedirs(directory.parent, exist_ok=True)
        os.mkdir(directory, 0o700)
        os.chmod(directory, 0o700)  # umask-proof; the directory is still empty
        return False
    except FileExistsError:
        return check_dir(directory)
    except OSError as exc:
        raise StateError(f"cannot create state directory {directory}: {exc.strerror}") from None


def check_dir(directory: Path) -> bool:
    """Refuse an unsafe state directory (exit 3); True if others may read it (a warning)."""
    try:
        info = os.lstat(directory)
    except OSError as exc:
        raise StateError(f"cannot use state directory {directory}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise StateError(f"state directory {directory} is a symbolic link; refusing to use it",
                         hint="point --state-dir at the real directory")  # fmt: skip
    if not stat.S_ISDIR(info.st_mode):
        raise StateError(f"state directory {directory} is not a directory")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise StateError(f"state directory {directory} belongs to another user (uid "
                         f"{info.st_uid}); refusing to use it")  # fmt: skip
    if info.st_mode & 0o022:
        raise StateError(
            f"state directory {directory} is writable by other users "
            f"(mode {stat.S_IMODE(info.st_mode):o}); refusing to use it",
            hint=f"chmod 700 {directory}",
        )
    return bool(info.st_mode & 0o055)


def unusable(path: Path, why: str) -> StateError:
    if why == "symbolic link":
        return StateError(
            f"state file {path} is a symbolic link; refusing to follow it",
            hint="remove the link; oauthcli creates its state files itself",
        )
    return StateError(f"cannot read state file {path}: {why}")


def read_bytes(path: Path) -> bytes | None:
    """The file's content (at most MAX_READ + 1 bytes), or None when absent.

    A symlink, a FIFO, a device or a directory is a StateError, refused before it is opened.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise unusable(path, exc.strerror or "error") from None
    if stat.S_ISLNK(info.st_mode):
        raise unusable(path, "symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise unusable(path, "not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = "symbolic link" if os.path.islink(path) else exc.strerror or "error"
        raise unusable(path, why) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the lstat
            raise unusable(path, "not a regular file")
        return handle.read(MAX_READ + 1)


def atomic_write(directory: Path, target: Path, data: bytes) -> None:
    """Atomically replace ``target`` (inside ``directory``) with a 0600 file holding ``data``."""
    ensure_dir(directory)
    if target.is_symlink():
        raise unusable(target, "symbolic link")
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


def probe_write(directory: Path, size: int = 16384) -> None:
    """Prove that a state file of ``size`` bytes can be written here now (OSError if not).

    posix_fallocate allocates the blocks (ENOSPC, EDQUOT now, not at write-back) without an
    fsync; where it is missing or the filesystem refuses it, zeros are written and synced.
    """
    temp = directory / f".probe.{os.urandom(6).hex()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except (AttributeError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in _NO_FALLOCATE:
                raise
            os.write(fd, b"\0" * size)
            os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)


def unlink(directory: Path, path: Path) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    fsync_dir(directory)
    return True


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
