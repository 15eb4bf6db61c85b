"""What a machine keeps of a store in its own state dir: the local copy, and kept states.

- **Local copy** (shared stores): the last state read from or written to the shared store, minus
  every refresh token, so a cached `token` reads no network while it is fresh (SPEC §8, §10). It
  is a cache: any failure to read it is a miss. ``.copy-<store>-<grant>.json``, 0600, bound to
  the store (host, port, db, prefix) and the grant name, sealed too when the store has a key.
  It is replaced by every read and write of the shared store and removed by ``delete`` and by a
  read that finds the entry gone; it can never be newer than the shared store.
- **Kept states** (every store): a state that could not be stored — the compare-and-swap lost,
  or the store failed — while it may hold a refresh token the provider has already rotated.
  ``<grant>.json.kept-<store>-<time>-<random>``, 0600, with the generation it was based on;
  adopted or superseded by the next lock of that name (``reconcile``).
"""


import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, TypeVar

from oauthcli.errors import OAuthCliError, StateError
from oauthcli.store import fsutil
from oauthcli.store.codec import Codec, CorruptEntry
from oauthcli.store.keys import digest, file_stem
from oauthcli.store.state import State

log = logging.getLogger("oauthcli.store")
# Kept states are rare, and listing the state dir for them on every lock and write costs O(n)
# per grant, O(n²) for `refresh --all`. So ``keep`` first creates MARKER (never removed: no
# race with a concurrent keep), and a directory without it holds no kept state. SCANNED says
# that a directory from before the marker was listed once and got its MARKER if it needed one.
MARKER, SCANNED = ".kept_marker", ".kept_scanned"
E = TypeVar("E", bound=OAuthCliError)
Reader = Callable[[str], "State | None"]
Writer = Callable[[str, "State", int], "State"]


class Kept(NamedTuple):
    path: Path
    base: int  # the stored generation the state was meant to replace
    state: State


class LocalState:
    def __init__(self, directory: Path, store_id: str, codec: Codec) -> None:
        self.directory = directory
        self.store_id = store_id
        self.tag = digest(store_id, 4)
        self.codec = codec

    # --- the local copy ------------------------------------------------------------------

    def copy_path(self, name: str) -> Path:
        return self.directory / f".copy-{self.tag}-{file_stem(name)}.json"

    def get_copy(self, name: str) -> State | None:
        try:
            raw = fsutil.read_bytes(self.copy_path(name))
            if raw is None:
                return None
            wrapper = json.loads(raw)
            if wrapper.get("store") != self.store_id:
                return None
            doc = wrapper["state"].encode("utf-8")
            return self.codec.decode(name, doc, "local copy", kind="copy")
        except (OAuthCliError, CorruptEntry, OSError, ValueError, KeyError, TypeError,
                AttributeError):  # fmt: skip
            return None  # a cache: any doubt is a miss, and the shared store is asked

    def put_copy(self, name: str, state: State) -> None:
        current = self.get_copy(name)
        if current is not None and current.generation == state.generation:
            return
        doc = self.codec.encode(name, state.without_refresh_tokens(), kind="copy")
        wrapper = {"store": self.store_id, "state": doc.decode("utf-8")}
        try:
            fsutil.atomic_write(self.directory, self.copy_path(name), json.dumps(wrapper).encode())
        except (OSError, StateError) as exc:
            log.debug("could not refresh the local copy of %s: %s", name, exc)

    def drop_copy(self, name: str) -> None:
        try:
            fsutil.unlink(self.directory, self.copy_path(name))
        except OSError as exc:
            log.debug("could not remove the local copy of %s: %s", name, exc)

    # --- kept states ---------------------------------------------------------------------

    def _kept_prefix(self, name: str) -> str:
        return f"{file_stem(name)}.json.kept-{self.tag}-"

    def keep(self, name: str, state: State, base: int) -> Path:
        """Write ``state`` where the next run finds it; the path, for the error message."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.directory / f"{self._kept_prefix(name)}{stamp}-{os.urandom(3).hex()}"
        doc = self.codec.encode(name, state, kind="kept")
        wrapper = {"store": self.store_id, "base": base, "state": doc.decode("utf-8")}
        fsutil.ensure_dir(self.directory)
        _touch(self.directory / MARKER)  # before the kept state: never one without it
        fsutil.atomic_write(self.directory, path, json.dumps(wrapper).encode("utf-8"))
        return path

    def _may_hold_kept(self) -> bool:
        """One lstat where no kept state was ever written (see MARKER)."""
        if os.path.lexists(self.directory / MARKER):
            return True
        if os.path.lexists(self.directory / SCANNED) or not self.directory.is_dir():
            return False
        legacy = any(".json.kept-" in entry for entry in os.listdir(self.directory))
        try:
            if legacy:
                _touch(self.directory / MARKER)
            _touch(self.directory / SCANNED)
        except OSError as exc:  # a read-only state dir: list it every time, as before
            log.debug("could not mark the state dir %s: %s", self.directory, exc)
        return True if legacy else not os.path.lexists(self.directory / SCANNED)

    def kept(self, name: str) -> list[Kept]:
        """The kept states of ``name`` for this store, oldest first; unreadable ones skipped."""
        if not self._may_hold_kept():
            return []
        found: list[tuple[int, int, Kept]] = []
        for path in sorted(self.directory.glob(f"{_glob_escape(self._kept_prefix(name))}*")):
            try:
                wrapper = json.loads(fsutil.read_bytes(path) or b"")
                if wrapper.get("store") != self.store_id or not isinstance(wrapper["base"], int):
                    continue
                state = self.codec.decode(name, wrapper["state"].encode(), str(path), kind="kept")
                kept = Kept(path, wrapper["base"], state)
                found.append((kept.base, path.stat().st_mtime_ns, kept))
            except (OAuthCliError, CorruptEntry, OSError, ValueError, KeyError, TypeError,
                    AttributeError) as exc:  # fmt: skip
                log.warning("cannot use the kept state %s: %s", path, exc)
        return [kept for _, _, kept in sorted(found, key=lambda f: f[:2])]

    def discard_kept(self, name: str) -> None:
        for kept in self.kept(name):
            try:
                fsutil.unlink(self.directory, kept.path)
            except OSError as exc:
                log.debug("could not remove %s: %s", kept.path, exc)


def _touch(path: Path) -> None:
    """Create an empty 0600 file (O_EXCL, no symlink followed); an existing one is kept."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | fsutil.NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def reconcile(local: LocalState, name: str, read: Reader, write: Writer) -> None:
    """Under the lock: adopt the newest kept state unless the store has moved past it.

    Kept at base generation b, the store now at g: g <= b means nothing newer was stored since
    (the write failed, or the store lost data), so the kept state is written (CAS on g). g > b
    means another process stored a newer state: that one wins, and the kept one stays only as
    the fallback of ``kept()`` until the next successful write discards it.
    """
    kept = local.kept(name)
    if not kept:
        return
    newest = kept[-1]
    current = read(name)
    generation = current.generation if current else 0
    if generation > newest.base:
        log.info("the store moved on past the state kept in %s; it stays as a fallback",
                 newest.path)  # fmt: skip
        return
    write(name, newest.state, generation)
    log.warning("stored the tokens that an earlier run kept in %s", newest.path)


def kept_error(local: LocalState, name: str, state: State, base: int, why: str,
               kind: type[E]) -> E:  # fmt: skip
    """Keep ``state`` locally and build the error that says where (or that it could not)."""
    try:
        path = local.keep(name, state, base)
    except (OSError, OAuthCliError) as exc:
        return kind(f"{why}; the new tokens could not be kept either: {exc}")
    return kind(f"{why}; the new tokens are kept in {path}",
                hint="the next run stores them, or uses what is stored now")  # fmt: skip
