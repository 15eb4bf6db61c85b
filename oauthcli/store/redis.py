"""The Redis store: one state shared by many machines, refreshed once across all of them.

Keys (``prefix`` from ``?prefix=``, default ``oauthcli``; names percent-encoded, store.keys):
``<prefix>:state:<name>`` a hash {generation, kid, doc}; ``<prefix>:lease:<name>`` the lease;
``<prefix>:corrupt:<name>:<time>`` entries set aside; ``<prefix>:probe:<name>`` a write probe.
``doc`` is the codec's document (sealed when the store has a key); ``generation`` is what the
compare-and-swap script compares; ``kid`` names the key the entry was sealed with.

Durability: configure the server with ``appendonly yes`` and ``appendfsync always``; after each
write the store runs ``WAITAOF 1 <replicas>`` where the server has it (7.2+, Valkey 8), else
``WAIT <replicas>`` when there are replicas, and warns when the server does not persist.

Two machines A and B, one grant at generation g holding refresh token R (the lease is L):

1. A takes L, refreshes, writes g+1 (CAS ok), releases; B waits on L, takes it, reads g+1,
   fresh: no request. The normal case: one request for the fleet.
2. B starts after A wrote: its unlocked read (or its local copy) is fresh: no lock at all.
3. A takes L and dies (SIGKILL, host lost) before sending: L runs out after its ttl (renewal
   stopped with the process); B takes it, reads g, refreshes. Nothing was spent twice.
4. A dies after sending, before writing: the provider rotated R to R'; R' is lost with A
   (as with one machine, §6: the rotated token lives only in the crashed process). B later
   sends R: invalid_grant, exit 4 with the re-authorise hint. The store cannot prevent this;
   the crash window is one round trip.
5. A's request is slow: the renewal thread keeps L alive, and A called ``ensure(deadline)``
   before sending, so even a renewal that stops (A paused, Redis unreachable from A) leaves L
   longer than the request. B waits (up to its lock timeout: exit 5 if longer).
6. A pauses (SIGSTOP, VM suspended) or loses Redis longer than L after sending; L runs out; B
   takes L, reads g and sends R too. With strict rotation one of the two is refused:
   a. A's request was processed first: A got R'; B gets invalid_grant and writes nothing; A's
      CAS on g succeeds (nothing else was written): R' stored, the grant survives; B exit 4.
   b. B's was first: B stores g+1 = R'' and A gets invalid_grant: nothing written, exit 4.
   c. The provider has a reuse grace period: both succeed; B stores g+1 first, A's CAS on g
      fails: StaleWriteError, exit 5, A's tokens kept in A's state dir (0600, named in the
      error). A's next lock sees the store at g+1 > g: the stored state wins and A's kept
      state stays a fallback (``kept``), discarded by the next successful write.
   A's ``still_held`` is False by then; it never sends again on that lease (``ensure`` fails).
7. Redis restarts while A holds L: with AOF the lease and the state survive (the lease with
   its absolute expiry); A's renewals fail meanwhile and resume; A's write retries for a few
   seconds. If the write still fails, A keeps its tokens locally (as 6c) and the next lock
   finds the store at g = the kept base: it stores them (``local.reconcile``).
8. Redis loses data (no AOF, failover to a lagging replica): L may vanish while A holds it, so
   B can take it (A's next ``ensure`` fails: compare-and-extend finds another owner); the state
   may go back to an older generation: a kept state with a base at or above it is stored by the
   next lock; otherwise the older refresh token is sent and refused (exit 4): configure AOF.
9. A's local copy is fresh but B refreshed early (``--force``): A keeps answering with its
   access token until it is no longer fresh, as it would from its own store; both are valid.
   A ``forget`` on B leaves A's copy until it expires: forget with ``--revoke`` to cut it off.
10. The store is unreachable at the start: exit 5 naming host:port before any token request;
    never a fallback to the file store.

Tested (tests/test_redis_store.py, tests/test_store_contract.py): 1, 2, 3, 5, 6a, 6c, 7, 8
(the state going back), 9 (local copy), 10.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oauthcli.errors import ConfigError, OAuthCliError, TransientError
from oauthcli.store import fsutil
from oauthcli.store.base import DEFAULT_LOCK_TIMEOUT, StaleWriteError, Status, lock_timeout_error
from oauthcli.store.codec import Codec, CorruptEntry
from oauthcli.store.keys import name_of_redis_key, profile_of, redis_key
from oauthcli.store.local import LocalState, kept_error, reconcile
from oauthcli.store.redisurl import RedisAddress, parse
from oauthcli.store.state import State

if TYPE_CHECKING:  # the lease, the scripts and redis-py load only when a run needs more than a read
    from oauthcli.store.redisclient import Client
    from oauthcli.store.redislease import RedisLease

log = logging.getLogger("oauthcli.store")
Fields = tuple[bytes | None, bytes | None, bytes | None]  # generation, kid, doc


class RedisStore:
    def __init__(self, address: RedisAddress, local_dir: Path, codec: Codec | None = None) -> None:
        self.address = address
        self.codec = codec or Codec()
        self.local = LocalState(local_dir, address.store_id, self.codec)
        self._client: Client | None = None
        self._held = threading.local()

    @property
    def client(self) -> Client:
        if self._client is None:
            from oauthcli.store.redisclient import Client

            self._client = Client(self.address)
        return self._client

    def describe(self) -> str:
        return self.address.describe()

    def _key(self, kind: str, name: str) -> str:
        return redis_key(self.address.prefix, kind, name)

    def _holds(self, name: str) -> bool:
        return bool(getattr(self._held, "names", {}).get(name))

    # --- reading -------------------------------------------------------------------------

    def _fetch(self, name: str) -> Fields | None:
        """The entry's fields; the fast reader unless this thread holds the lease."""
        key = self._key("state", name)
        if self._holds(name):
            fields = self.client.call(lambda r: r.hmget(key, "generation", "kid", "doc"))
        else:
            fields = self._fast(["HMGET", key, "generation", "kid", "doc"])
        if fields is None:
            raise CorruptEntry("not a hash")
        return None if fields == [None, None, None] else (fields[0], fields[1], fields[2])

    def _fast(self, command: list[str]) -> Any:
        from oauthcli.store import resp

        try:
            return resp.call(self.address, command)[0]
        except resp.RespError as exc:
            if str(exc).startswith("WRONGTYPE"):
                return None
            raise self.client.failure(exc, str(exc)) from None
        except (OSError, ValueError) as exc:
            raise self.address.unreachable(str(exc) or type(exc).__name__) from None

    def read(self, name: str) -> State | None:
        try:
            fields = self._fetch(name)
            if fields is None:
                self.local.drop_copy(name)
                return None
            state = self._decode(name, fields)
        except CorruptEntry as exc:
            if self._holds(name):
                self._set_aside(name, exc)
            return None
        self.local.put_copy(name, state)
        return state

    def _decode(self, name: str, fields: Fields) -> State:
        generation, _kid, doc = fields
        where = f"the stored state of {profile_of(name)!r} in {self.describe()}"
        state = self.codec.decode(name, doc or b"", where)
        if generation is None or not generation.isdigit() or int(generation) != state.generation:
            raise CorruptEntry("its generation does not match its document")
        return state

    def _set_aside(self, name: str, why: Exception) -> None:
        key = self._key("state", name)
        fields = self.client.call(
            lambda r: r.hmget(key, "doc") if r.type(key) == b"hash" else [b""]
        )
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = f"{self._key('corrupt', name)}:{stamp}-{os.urandom(3).hex()}"
        moved = self.client.script("set_aside", [key, aside], [fields[0] or b""])
        if moved:
            log.warning("the stored state of %r in %s was corrupt (%s); moved it to %s",
                        profile_of(name), self.describe(), why, aside)  # fmt: skip

    def read_cached(self, name: str) -> State | None:
        return self.local.get_copy(name)

    def inspect(self, name: str) -> Status:
        try:
            fields = self._fetch(name)
            return "absent" if fields is None else self._decode(name, fields)
        except CorruptEntry:
            return "corrupt"

    def names(self) -> list[str]:
        pattern = f"{self.address.prefix}:state:*"
        keys = self.client.call(lambda r: list(r.scan_iter(match=pattern, count=1000)))
        found = (name_of_redis_key(self.address.prefix, "state", k.decode()) for k in keys)
        return sorted(n for n in found if n is not None)

    def kept(self, name: str) -> State | None:
        kept = self.local.kept(name)
        return kept[-1].state if kept else None

    # --- writing -------------------------------------------------------------------------

    def write(self, name: str, state: State, expected: int) -> State:
        stored = state.with_generation(expected + 1)
        doc = self.codec.encode(name, stored)
        adopt = "1" if self.codec.adopt_plaintext else "0"
        args = [expected, expected + 1, self.codec.kid, doc, adopt]
        try:
            retry = self.address.timeout  # a restart takes about a second; the CAS is idempotent
            status, found = self.client.script("cas", [self._key("state", name)], args, retry)
        except OAuthCliError as exc:
            raise kept_error(
                self.local, name, state, expected, exc.message, TransientError
            ) from None
        if status == -1:
            why = (f"the stored state of {profile_of(name)!r} was written with a different "
                   "store.key (or without one)")  # fmt: skip
            raise kept_error(self.local, name, state, expected, why, ConfigError)
        if status != 1:
            why = (f"the stored state of {profile_of(name)!r} changed while this process "
                   f"refreshed (generation {found}, expected {expected})")  # fmt: skip
            raise kept_error(self.local, name, state, expected, why, StaleWriteError)
        self.client.wait_durable()
        self.local.put_copy(name, stored)
        self.local.discard_kept(name)
        return stored

    def check_writable(self, name: str) -> None:
        fsutil.ensure_dir(self.local.directory)  # kept states land here if the store fails
        try:
            fsutil.probe_write(self.local.directory)
        except OSError as exc:
            raise TransientError(f"cannot write to the state directory {self.local.directory}: "
                                 f"{exc.strerror}") from None  # fmt: skip
        probe = self._key("probe", name)
        self.client.call(lambda r: r.set(probe, b"1", px=5000))

    def delete(self, name: str) -> bool:
        with self.lock(name, DEFAULT_LOCK_TIMEOUT):
            key = self._key("state", name)
            deleted = self.client.call(lambda r: r.delete(key), retry=self.address.timeout)
            self.local.drop_copy(name)
            self.local.discard_kept(name)
            return bool(deleted)

    # --- the lease -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[Any]:
        held: dict[str, Any] = self._held.__dict__.setdefault("names", {})
        if held.get(name):
            yield held[name]
            return
        lease = self._acquire(name, timeout)
        held[name] = lease
        try:
            reconcile(self.local, name, self.read, self.write)
            yield lease
        finally:
            held.pop(name, None)
            lease.release()

    def _acquire(self, name: str, timeout: float) -> RedisLease:
        from oauthcli.store.redislease import RedisLease, new_owner

        key, owner = self._key("lease", name), new_owner()
        ttl_ms = int(self.address.lease * 1000)
        lease = RedisLease(self.client, key, owner, self.address.lease, self.client.scripts)
        deadline, delay, first = time.monotonic() + timeout, 0.005, True
        failure: TransientError | None = None
        while True:
            sent_at = time.monotonic()
            try:
                if self.client.call(lambda r: r.set(key, owner, nx=True, px=ttl_ms)):
                    lease.acquired(sent_at)
                    return lease
                failure = None
            except TransientError as exc:
                if first:
                    raise  # unreachable from the start: say so now, not after the timeout
                failure = exc  # it went away while we waited (a restart): keep waiting
            first = False
            if time.monotonic() >= deadline:
                raise failure or lock_timeout_error(profile_of(name), timeout)
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.1)


def open(url: str, world: Any, codec: Codec | None = None) -> RedisStore:  # noqa: A001
    """The backend registry's entry point for ``redis://`` and ``rediss://``."""
    address = parse(url)
    if address.password:
        world.secrets.add(address.password)
    return RedisStore(address, Path(world.state_dir), codec)
