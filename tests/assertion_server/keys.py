"""Signing keys for the assertion tests: RSA 2048 (RS256, PS256), EC P-256 (ES256), Ed25519 (EdDSA).

``generate_keypair(alg, directory)`` makes a fresh key and, given a directory, writes
``<name>.key.pem`` (private, PKCS#8 unless ``fmt="traditional"``) and ``<name>.pub.pem``
(SubjectPublicKeyInfo). A :class:`KeyPair` also gives the public key as a JWK and as a
joserfc key, which is what the server verifies with.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
KEY_TYPES = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}


def _generate_private_key(alg: str) -> Any:
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported algorithm {alg!r}; expected one of {ALGORITHMS}")


@dataclass(frozen=True)
class KeyPair:
    """A private/public key pair for one JWS algorithm, with its PEM files when written."""

    alg: str
    kid: str
    private_pem: str
    public_pem: str
    private_path: Path | None = None
    public_path: Path | None = None
    _private_key: Any = field(default=None, repr=False, compare=False)

    @property
    def private_key(self) -> Any:
        """The ``cryptography`` private key object (what PyJWT signs with)."""
        return self._private_key

    @property
    def public_key(self) -> Any:
        return self._private_key.public_key()

    @property
    def key_type(self) -> str:
        return KEY_TYPES[self.alg]

    def public_jwk(self, *, with_alg: bool = True) -> dict[str, Any]:
        """The public key as a JWK dict (``kid``, ``use: sig`` and, by default, ``alg``)."""
        params: dict[str, Any] = {"kid": self.kid, "use": "sig"}
        if with_alg:
            params["alg"] = self.alg
        return jwk.import_key(self.public_pem, self.key_type, params).as_dict(private=False)

    def joserfc_public_key(self) -> Any:
        return jwk.import_key(self.public_pem, self.key_type, {"kid": self.kid, "use": "sig"})

    def sign(
        self,
        claims: dict[str, Any],
        headers: dict[str, Any] | None = None,
        *,
        kid: bool | str = True,
    ) -> str:
        """Sign ``claims`` with PyJWT (``kid`` header: this key's kid, a given string, or none)."""
        import jwt

        hdrs = dict(headers or {})
        if kid is True:
            hdrs.setdefault("kid", self.kid)
        elif isinstance(kid, str):
            hdrs["kid"] = kid
        return jwt.encode(claims, self._private_key, algorithm=self.alg, headers=hdrs or None)


def generate_keypair(
    alg: str,
    directory: Path | str | None = None,
    name: str | None = None,
    *,
    kid: str | None = None,
    fmt: str = "pkcs8",
) -> KeyPair:
    """A fresh key for ``alg`` (RS256, PS256, ES256, EdDSA), written to ``directory`` if given.

    ``fmt="traditional"`` writes an RSA/EC private key as ``BEGIN RSA/EC PRIVATE KEY``
    (Ed25519 has only PKCS#8).
    """
    private_key = _generate_private_key(alg)
    if fmt == "traditional" and alg != "EdDSA":
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    elif fmt in ("pkcs8", "traditional"):
        private_format = serialization.PrivateFormat.PKCS8
    else:
        raise ValueError(f"fmt must be 'pkcs8' or 'traditional', not {fmt!r}")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, private_format, serialization.NoEncryption()
    ).decode("ascii")
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    kid = kid or hashlib.sha256(public_der).hexdigest()[:16]
    private_path = public_path = None
    if directory is not None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = name or f"{alg.lower()}-{secrets.token_hex(4)}"
        private_path = directory / f"{stem}.key.pem"
        public_path = directory / f"{stem}.pub.pem"
        private_path.write_text(private_pem)
        private_path.chmod(0o600)
        public_path.write_text(public_pem)
    return KeyPair(alg, kid, private_pem, public_pem, private_path, public_path, private_key)
