"""The TokenStore seam: what every backend (file, redis, …) promises the driver (SPEC §6, §10).

A backend is one module with a class that satisfies :class:`TokenStore`, plus one line in
``store.opening.BACKENDS``; the contract tests in ``tests/test_store_contract.py`` run over each.

Names are arbitrary strings (the driver passes a grant identity: profile name, token endpoint
or issuer, client id); each backend maps them to safe keys itself.

Writes are a compare-and-swap on the state's ``generation``: ``write(name, state, expected)``
stores ``state`` with generation ``expected + 1`` only if the stored generation is still
``expected`` (0 = nothing stored), else raises :class:`StaleWriteError` and changes nothing
stored; the state that could not be stored is kept in the local state dir (0600) and the error
says where, because it may carry a refresh token the provider has already rotated. The next
``lock`` of that name reconciles it (``kept.py``). The per-name ``lock`` makes a stale write
rare; the swap is what keeps a process whose lock (a lease, in a shared store) ran out from
overwriting a newer refresh token with an older one.

How the driver uses a store (``grants/driver.py``)::

    state = store.read_cached(name)          # no network: the local copy of a shared store
    if not fresh(state):
        state = store.read(name)             # the store itself, without the lock
    if not fresh(state):
        with store.lock(name, lock_timeout) as lease:
            state = store.read(name)         # another process may have refreshed meanwhile
            if not fresh(state):
                store.check_writable(name)   # before anything that may rotate the token
                lease.ensure(deadline)       # before each request: the lease outlives it
                … send …
                store.write(name, new_state, expected=state.generation if state else 0)
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, Protocol

from oauthcli.errors import ExitCode, StateError, TransientError
from oauthcli.store.state import State

Status = State | Literal["absent", "corrupt", "unsafe"]
DEFAULT_LOCK_TIMEOUT = 30.0  # for writes and deletes made without the caller's lock


class StaleWriteError(StateError):
    """The stored generation moved on: another process wrote first (exit 5, retry later)."""

    exit_code = ExitCode.TRANSIENT


class LeaseLostError(TransientError):
    """The lock's lease ran out (or cannot be made to outlast a request): nothing may be sent."""


class Lease(Protocol):
    """A held per-name lock. For a lease-based lock (a shared store) it can run out."""

    def still_held(self) -> bool:
        """False once the lease ran out or was taken over (always True for a kernel lock)."""
        ...

    def ensure(self, seconds: float) -> None:
        """Make the lease outlast the next ``seconds`` (extending it), else LeaseLostError.

        Called right before each request that may rotate a token, with that request's
        deadline: a lease shorter than the request is never used to send.
        """
        ...


class TokenStore(Protocol):
    def describe(self) -> str:
        """Where the state lives, for messages (passwords redacted)."""
        ...

    def read(self, name: str) -> State | None:
        """The stored state or None. A corrupt entry reads as None; under this process's lock
        it is also set aside and reported. An entry that does not open with the configured
        key (wrong key, tampered) is a ConfigError. A shared store refreshes the local copy."""
        ...

    def read_cached(self, name: str) -> State | None:
        """What ``read`` would return, as cheaply as possible: a shared store answers from
        this machine's local copy without any network (its refresh token is withheld, so a
        state from here is only for answering while fresh). May be older than ``read``."""
        ...

    def inspect(self, name: str) -> Status:
        """For `list`: the state, or why there is none, without changing anything."""
        ...

    def write(self, name: str, state: State, expected: int) -> State:
        """Durably store ``state`` if the stored generation is ``expected``; returns it stored.
        Any failure after which the state is not stored keeps it locally and says where."""
        ...

    def check_writable(self, name: str) -> None:
        """Prove a write of ``name`` would succeed, before a request that may rotate a token."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the stored state (and this machine's local copy); False if there was none."""
        ...

    def names(self) -> list[str]:
        """The names with stored state, sorted."""
        ...

    def kept(self, name: str) -> State | None:
        """A state an earlier run could not store (see ``write``) and the next lock could not
        adopt because the store moved on; its refresh token is worth one try when the stored
        one is refused (``invalid_grant``). Discarded by the next successful write."""
        ...

    def lock(self, name: str, timeout: float) -> AbstractContextManager[Lease]:
        """The per-name lock (re-entrant within a thread); waiting longer than ``timeout`` is a
        TransientError. Taking it reconciles what an earlier run kept locally."""
        ...


def lock_timeout_error(name: str, timeout: float) -> TransientError:
    return TransientError(
        f"another oauthcli process has held the lock for profile {name!r} "
        f"for more than {timeout:g}s",
        hint="try again; raise lock_timeout in the profile if refreshes are slow",
    )
