"""Stored documents: a State as JSON, or sealed in an envelope when the store has a key.

Plain: the state's JSON plus its ``name``. Sealed (``store.key``): ``{"version", "name",
"generation", "sealed": {alg, kid, nonce, ct}}`` — the name and generation stay readable (the
compare-and-swap and ``names`` need them; they are not secret), the state itself is ciphertext.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oauthcli.errors import ConfigError, StateError
from oauthcli.store.keys import profile_of
from oauthcli.store.state import VERSION, State

if TYPE_CHECKING:
    from oauthcli.store.crypto import Sealer

MAX_DOCUMENT = 1 << 20  # a state document is a few KiB; anything near this is not one of ours


class CorruptEntry(ValueError):
    """Not a stored document of this version: to be set aside, never used."""


class Codec:
    def __init__(self, sealer: Sealer | None = None, adopt_plaintext: bool = False) -> None:
        self.sealer = sealer
        self.adopt_plaintext = adopt_plaintext  # with a key: read unencrypted entries once

    @property
    def kid(self) -> str:
        return self.sealer.kid if self.sealer else ""

    def encode(self, name: str, state: State, kind: str = "state") -> bytes:
        if self.sealer is None:
            return json.dumps({**state.to_dict(), "name": name}, indent=1, sort_keys=True).encode()
        plaintext = state.to_json().encode("utf-8")
        sealed = self.sealer.seal(plaintext, _aad(kind, name, state.generation))
        envelope = {"version": VERSION, "name": name, "generation": state.generation,
                    "sealed": sealed}  # fmt: skip
        return json.dumps(envelope, sort_keys=True).encode("utf-8")

    def decode(self, name: str, raw: bytes, where: str, kind: str = "state") -> State:
        """The State in ``raw`` (stored under ``name`` at ``where``, for messages).

        CorruptEntry: not a document at all. ConfigError: a document this key cannot open.
        StateError: a document of another grant (a digest collision, or a file moved by hand).
        """
        data = parse(raw)
        stored_name = data.get("name", name)
        if stored_name != name:
            raise StateError(f"{where} holds the state of {profile_of(str(stored_name))!r}, "
                             f"not of {profile_of(name)!r}; refusing to use it")  # fmt: skip
        if "sealed" in data:
            return self._open(name, data, where, kind)
        try:
            state = State.from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptEntry(str(exc)) from None
        if self.sealer is not None and not self.adopt_plaintext:
            raise ConfigError(
                f"{where} is not encrypted, but the store has a key",
                hint="set OAUTHCLI_STORE_ADOPT_PLAINTEXT=1 once to encrypt it at the next write",
            )
        return state

    def _open(self, name: str, data: dict[str, Any], where: str, kind: str) -> State:
        if self.sealer is None:
            raise ConfigError(
                f"{where} is encrypted and the store has no key",
                hint="set store: {url: …, key: …} (or $OAUTHCLI_STORE_KEY)",
            )
        generation = data.get("generation")
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise CorruptEntry("bad generation")
        plaintext = self.sealer.open(data.get("sealed"), _aad(kind, name, generation), where)
        try:
            state = State.from_json(plaintext)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ConfigError(f"{where} decrypted to something that is not a state") from None
        if state.generation != generation:
            raise ConfigError(f"{where} failed authentication: its generation was changed")
        return state


def parse(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_DOCUMENT:
        raise CorruptEntry("too large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CorruptEntry("not JSON") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise CorruptEntry("not a state document of this version")
    return data


def stored_name(raw: bytes) -> str | None:
    """The name a document says it belongs to (for ``names``), or None."""
    try:
        name = parse(raw).get("name")
    except CorruptEntry:
        return None
    return name if isinstance(name, str) else None


def _aad(kind: str, name: str, generation: int) -> bytes:
    return b"\0".join([b"oauthcli", kind.encode(), name.encode("utf-8"), str(generation).encode()])
