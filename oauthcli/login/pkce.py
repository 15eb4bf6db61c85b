"""PKCE (RFC 7636) and the other random values of an authorization request.

``secrets`` draws from the operating system's CSPRNG. A verifier of 64 URL-safe characters
carries 384 bits; ``state`` and ``nonce`` 256 bits each (SPEC §9 asks for at least 128).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field


def new_verifier() -> str:
    """43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1): token_urlsafe(48) gives 64."""
    return secrets.token_urlsafe(48)


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def random_value() -> str:
    """A value for ``state`` or ``nonce``: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(default_factory=new_verifier, repr=False)

    @property
    def challenge(self) -> str:
        return s256(self.verifier)
