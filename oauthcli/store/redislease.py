"""The per-grant lease of the Redis store, and the Lua scripts that make each step atomic.

A lease is ``SET key owner NX PX ttl`` with a random owner (host, pid and 96 random bits).
Only its owner extends it (compare-and-extend) or releases it (compare-and-delete); a
background thread extends it every third of its time while it is held, and ``ensure`` extends
it synchronously before each request so that it outlasts the request even if nothing renews
it afterwards. ``still_held`` is judged from this side: the lease counts as held until the
time it was last extended *from* (the moment the command was sent, not answered) plus its
ttl, less 1 % for clock rate; a failed compare-and-extend means it was lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from oauthcli.store.base import LeaseLostError

log = logging.getLogger("oauthcli.store")
MARGIN = 2.0  # seconds a lease must outlast the request it covers

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""
# KEYS[1] the state; ARGV: expected generation, new generation, key id, document, whether an
# unencrypted entry may be replaced by an encrypted one. Returns {status, stored generation}:
# 1 stored (or this very write was already stored: a retry after a lost reply), 0 stale,
# -1 the stored entry was written under another key.
CAS = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') or -1
if cur == tonumber(ARGV[2]) and redis.call('HGET', KEYS[1], 'doc') == ARGV[4] then
  return {1, cur}
end
if cur ~= tonumber(ARGV[1]) then return {0, cur} end
if cur > 0 then
  local kid = redis.call('HGET', KEYS[1], 'kid') or ''
  if kid ~= ARGV[3] and not (kid == '' and ARGV[5] == '1') then return {-1, cur} end
end
redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'kid', ARGV[3], 'doc', ARGV[4])
return {1, tonumber(ARGV[2])}
"""
# KEYS[1] the state, KEYS[2] where to set it aside; ARGV[1] the document found corrupt.
# Moves it only if it is still that document: never one written since it was read.
SET_ASIDE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
if kind == 'hash' and (redis.call('HGET', KEYS[1], 'doc') or '') ~= ARGV[1] then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
"""


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(12).hex()}"


class RedisLease:
    def __init__(self, client: Any, key: str, owner: str, ttl: float, scripts: Any) -> None:
        self._client, self.key, self.owner = client, key, owner
        self._ttl = ttl
        self._scripts = scripts
        self._valid_until = 0.0
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquired(self, sent_at: float) -> None:
        """The SET NX sent at ``sent_at`` succeeded: start renewing."""
        self._valid_until = sent_at + self._ttl * 0.99
        self._thread = threading.Thread(target=self._renew, name="oauthcli-lease", daemon=True)
        self._thread.start()

    def still_held(self) -> bool:
        return not self._lost and time.monotonic() < self._valid_until

    def ensure(self, seconds: float) -> None:
        want = seconds + MARGIN
        self._ttl = max(self._ttl, want / 0.98)  # renewals keep it at least this long from now
        # Not judged by the local estimate: the compare-and-extend succeeding proves the key
        # still holds our random owner, so it never ran out (expiry deletes it) and no one
        # else took it; a late renewal on a loaded machine is not a lost lease.
        if self._lost or not self._extend():
            raise self._lost_error()
        if self._valid_until - time.monotonic() < want:
            raise self._lost_error()

    def _lost_error(self) -> LeaseLostError:
        return LeaseLostError(
            "this process lost its lock in the token store (it ran out or was taken over); "
            "nothing was sent",
            hint="try again; if it recurs, the store or this machine is pausing for long",
        )

    def _extend(self) -> bool:
        """Compare-and-extend; False if the lease is not ours any more (or unreachable)."""
        sent_at = time.monotonic()
        try:
            ours = self._scripts.extend(keys=[self.key], args=[self.owner, int(self._ttl * 1000)])
        except Exception as exc:  # noqa: BLE001 - any failure: the lease may be running out
            log.debug("could not extend the lease %s: %s", self.key, exc)
            return False
        if not ours:
            self._lost = True
            return False
        self._valid_until = max(self._valid_until, sent_at + self._ttl * 0.99)
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            if self._lost:
                return
            self._extend()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        if self._lost:
            return
        try:
            self._scripts.release(keys=[self.key], args=[self.owner])
        except Exception as exc:  # noqa: BLE001 - it runs out by itself
            log.debug("could not release the lease %s: %s", self.key, exc)
