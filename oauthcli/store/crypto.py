"""Encryption at rest: AES-256-GCM (``cryptography``) under a key derived from ``store.key``.

Why HKDF-SHA256 and not scrypt: ``store.key`` is a random key shared by a fleet (``openssl rand
-base64 32``), not a password a person remembers; for a key with that much entropy a slow,
memory-hard KDF adds nothing against guessing, while it would run on every cached `token` (kubectl
and git call it before each request) and cost tens of milliseconds there (SPEC §8). So a short
secret is refused instead of being stretched. The salt is fixed (RFC 5869 §3.1: not needed for a
high-entropy input); two labels (``info``) derive the AES key and a public key id from it.

Every sealed value is bound by its associated data to what it is (the store entry's name,
generation and kind): a value moved to another entry, or its generation edited, fails to open.
A value that fails to open is never overwritten (a ConfigError, exit 3).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from oauthcli.errors import ConfigError

MIN_KEY_CHARS = 32
ALG = "A256GCM"
_SALT = b"oauthcli store key v1"


def _derive(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(secret)


class Sealer:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise ConfigError(
                f"store.key is too short ({len(secret)} characters; at least {MIN_KEY_CHARS})",
                hint="use a random key: openssl rand -base64 32",
            )
        raw = secret.encode("utf-8")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(_derive(raw, b"aes-256-gcm"))
        self.kid = _derive(raw, b"key id")[:8].hex()  # names the key; reveals nothing of it

    def seal(self, plaintext: bytes, aad: bytes) -> dict[str, str]:
        nonce = os.urandom(12)  # 96-bit random nonce: safe far beyond any store's write count
        sealed = self._aead.encrypt(nonce, plaintext, aad)
        return {"alg": ALG, "kid": self.kid, "nonce": _b64(nonce), "ct": _b64(sealed)}

    def open(self, sealed: Any, aad: bytes, what: str) -> bytes:
        """The plaintext, or a ConfigError saying why not (another key, tampered, malformed)."""
        from cryptography.exceptions import InvalidTag

        if not isinstance(sealed, dict) or sealed.get("alg") != ALG:
            raise ConfigError(f"{what} is encrypted in a form this version cannot read")
        if sealed.get("kid") != self.kid:
            raise ConfigError(
                f"{what} was encrypted with a different store.key",
                hint="use the key it was written with; nothing was changed",
            )
        try:
            return self._aead.decrypt(_unb64(sealed["nonce"]), _unb64(sealed["ct"]), aad)
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise ConfigError(
                f"{what} failed authentication: it was tampered with or damaged",
                hint="nothing was changed; restore it, or `oauthcli forget` it and log in again",
            ) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text, validate=True)
