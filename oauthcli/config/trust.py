"""Trust of a profiles file found implicitly in the current directory (SPEC §13).

A ``./oauthcli.yaml`` arrives with whatever repository was cloned, and a profiles file can run
``${cmd:}`` commands and names the endpoints that receive tokens. So, as direnv and mise do, it
is used only after ``oauthcli trust`` recorded its content hash; a changed file needs trust
again. ``-c`` and ``$OAUTHCLI_CONFIG`` name a file explicitly and need none.

The records live in the user's state dir (platformdirs), whatever ``--state-dir`` says: a state
dir chosen per project, or shipped inside one, cannot vouch for a file. The directory must be
safe (the user's own, writable by nobody else) and the record is written atomically, 0600.
Each record holds the file's SHA-256 and the stat it had when hashed (device, inode, size,
mtime, ctime): while the stat is unchanged the hash is not recomputed. ctime cannot be set back
by a process, so content written since (even with its mtime restored) changes the stat.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from oauthcli.errors import ConfigError, OAuthCliError

NAME = ".trusted.json"
LOCK = ".trusted.lock"  # one `oauthcli trust` at a time changes the records (no lost record)
LOCK_TIMEOUT = 10.0
_VERSION = 1


def trust_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("oauthcli"))


def key_of(path: str | os.PathLike[str]) -> str:
    """The record's key: the absolute path, its directory resolved (as getcwd() returns it)."""
    full = Path(path).expanduser().absolute()
    return str(Path(os.path.realpath(full.parent)) / full.name)


def stat_of(info: os.stat_result) -> list[int]:
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


class TrustStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or trust_dir()
        self.path = self.directory / NAME

    def _records(self) -> dict[str, Any]:
        from oauthcli.store import fsutil

        if not self.directory.exists():
            return {}
        fsutil.check_dir(self.directory)  # others able to write here could plant a record
        raw = fsutil.read_bytes(self.path)
        if raw is None:
            return {}
        try:
            document = json.loads(raw)
        except ValueError:
            raise ConfigError(f"trust records {self.path} are not valid JSON",
                              hint="remove it and trust the files again") from None  # fmt: skip
        files = document.get("files") if isinstance(document, dict) else None
        return files if isinstance(files, dict) else {}

    def record_for(self, path: str) -> dict[str, Any] | None:
        record = self._records().get(key_of(path))
        return record if isinstance(record, dict) else None

    def unchanged(self, path: str, info: os.stat_result) -> bool:
        """True when the file still has the stat it had when it was hashed and trusted."""
        record = self.record_for(path)
        return record is not None and record.get("stat") == stat_of(info)

    def require(self, path: str, data: bytes, info: os.stat_result) -> None:
        """Raise unless ``data`` (read from ``path``, fstat ``info``) is what was trusted."""
        record = self.record_for(path)
        if record is None:
            raise untrusted(path, changed=False)
        if record.get("stat") != stat_of(info) and record.get("sha256") != digest(data):
            raise untrusted(path, changed=True)

    def trust(self, path: str, data: bytes, info: os.stat_result, now: float) -> str:
        """Record ``data`` as the trusted content of ``path``; returns its SHA-256."""
        sha = digest(data)
        self._write({key_of(path): {"sha256": sha, "stat": stat_of(info), "trusted_at": int(now)}})
        return sha

    def untrust(self, path: str) -> bool:
        """Forget ``path``; True if it was trusted."""
        return self._write({key_of(path): None})

    def _write(self, changes: dict[str, Any]) -> bool:
        """Read, change and write the records under the trust lock."""
        import contextlib

        from oauthcli.errors import TransientError
        from oauthcli.store import fsutil
        from oauthcli.store.file import os_lock

        fsutil.ensure_dir(self.directory)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(os_lock(self.directory / LOCK, "trust", LOCK_TIMEOUT))
            except TransientError:
                raise TransientError(f"another oauthcli has held {self.directory / LOCK} for "
                                     f"more than {LOCK_TIMEOUT:g}s", hint="try again") from None
            return self._update(changes)
        raise AssertionError("unreachable")  # pragma: no cover - for mypy

    def _update(self, changes: dict[str, Any]) -> bool:
        from oauthcli.store import fsutil

        records = dict(self._records())
        known = any(key in records for key in changes)
        for key, record in changes.items():
            if record is None:
                records.pop(key, None)
            else:
                records[key] = record
        document = {"version": _VERSION, "files": records}
        try:
            fsutil.atomic_write(self.directory, self.path, json.dumps(document, indent=1).encode())
        except OAuthCliError:
            raise
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError(f"cannot record trust in {self.path}: {why}") from None
        return known


def untrusted(path: str, changed: bool) -> ConfigError:
    what = "changed since it was trusted" if changed else "is not trusted"
    command = "oauthcli trust" if Path(path).name == "oauthcli.yaml" and _in_cwd(path) else (
        f"oauthcli trust {path}"
    )  # fmt: skip
    return ConfigError(
        f"{path} {what}: review it, then run `{command}`",
        hint="a profiles file found in the current directory can run commands and receive "
        "tokens, so it is used only once trusted (as direnv and mise do)",
    )


def _in_cwd(path: str) -> bool:
    try:
        return Path(key_of(path)).parent == Path(os.getcwd())
    except OSError:
        return False
