"""The TokenStore seam: what every backend (file, redis, …) promises the driver (SPEC §6, §10).

A backend is one module with a class that satisfies :class:`TokenStore`, plus one line in
``store.BACKENDS``; the contract tests in ``tests/test_store_contract.py`` run over each.

Writes are a compare-and-swap on the state's ``generation``: ``write(name, state, expected)``
stores ``state`` with generation ``expected + 1`` only if the stored generation is still
``expected`` (0 = nothing stored), else raises :class:`StaleWriteError`. The per-profile
``lock`` makes this the normal case; the swap is what keeps a process whose lock (a lease, in
a shared store) ran out from overwriting a newer refresh token with an older one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, Protocol

from oauthcli.errors import ExitCode, StateError
from oauthcli.store.state import State

Status = State | Literal["absent", "corrupt", "unsafe"]


class StaleWriteError(StateError):
    """The stored generation moved on: another process wrote first (exit 5, retry later)."""

    exit_code = ExitCode.TRANSIENT


class Lease(Protocol):
    """A held per-profile lock; ``still_held`` is False once a lease-based lock ran out."""

    def still_held(self) -> bool: ...


class TokenStore(Protocol):
    def describe(self) -> str:
        """Where the state lives, for messages (passwords redacted)."""
        ...

    def read(self, name: str) -> State | None:
        """The stored state or None; a corrupt entry is set aside, reported, and read as None."""
        ...

    def inspect(self, name: str) -> Status:
        """For `list`: the state, or why there is none, without changing anything."""
        ...

    def write(self, name: str, state: State, expected: int) -> State:
        """Durably store ``state`` if the stored generation is ``expected``; returns it stored."""
        ...

    def check_writable(self, name: str) -> None:
        """Prove a write of ``name`` would succeed, before a request that may rotate a token."""
        ...

    def delete(self, name: str) -> bool: ...

    def names(self) -> list[str]: ...

    def lock(self, name: str, timeout: float) -> AbstractContextManager[Lease]:
        """The per-profile lock; waiting longer than ``timeout`` is a TransientError."""
        ...
