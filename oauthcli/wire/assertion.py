"""Signed JWT assertions (RFC 7523): one signer for client authentication and for the grants.

PyJWT and cryptography are imported only here and only when a JWT is signed, never on the
cached `token` path. A key or a signing error never reaches a message: errors name the profile,
the field and what is wrong, not the key.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from oauthcli import boundedjson
from oauthcli.errors import ConfigError

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS, "EdDSA")
# 150 s: inside Salesforce's 3-minute limit and the usual 5 minutes of RFC 7523 servers, with
# room for clock skew either way. A fresh assertion is signed for every request anyway.
LIFETIME = 150
MAX_KEY_CHARS = 64 * 1024


def new_jti() -> str:
    """A random JWT ID (RFC 7519 §4.1.7): servers refuse an assertion whose jti they have seen."""
    return secrets.token_urlsafe(24)


def claims(
    iss: str, aud: str, now: float, *, sub: str | None = None, lifetime: int = LIFETIME
) -> dict[str, Any]:
    """The registered claims of an assertion: iss, sub (when given), aud, jti, iat, exp."""
    issued = int(now)
    found: dict[str, Any] = {"iss": iss}
    if sub:
        found["sub"] = sub
    found.update(aud=aud, jti=new_jti(), iat=issued, exp=issued + lifetime)
    return found


def sign(
    payload: Mapping[str, Any],
    key_pem: str,
    alg: str | None,
    kid: str | None,
    where: tuple[str, str],
) -> str:
    """The compact JWS of ``payload`` signed with the PEM key; ``alg`` defaults from the key.

    ``where`` is (profile, field) for error messages."""
    import jwt

    key = load_private_key(key_pem, where)
    alg = alg or default_alg(key)
    check_alg(key, alg, where)
    headers = {"kid": kid} if kid else None
    try:
        return jwt.encode(dict(payload), key, algorithm=alg, headers=headers)
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise _error(where, f"cannot sign with {alg}: {type(exc).__name__}") from None


def load_private_key(key_pem: str, where: tuple[str, str]) -> Any:
    """An RSA, EC or Ed25519/Ed448 private key from PEM (PKCS#8 or traditional)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = key_pem.strip()
    if "\n" not in text and "\\n" in text:  # a PEM pasted into a one-line CI variable
        text = text.replace("\\n", "\n")
    if len(text) > MAX_KEY_CHARS or "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise _error(where, "is not a PEM private key (RSA, EC or Ed25519)")
    if "ENCRYPTED" in text.split("\n", 2)[0] or "Proc-Type: 4,ENCRYPTED" in text:
        raise _error(
            where,
            "is an encrypted private key; oauthcli needs it unencrypted",
            "decrypt it into a 0600 file (openssl pkey -in key.pem -out plain.pem), or "
            "produce it with ${cmd:…} from a secret manager",
        )
    try:
        return load_pem_private_key(text.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        kind = "unsupported key type" if "unsupported" in str(exc).lower() else "malformed"
        raise _error(where, f"is not a usable PEM private key ({kind})") from None
    except Exception as exc:  # cryptography's UnsupportedAlgorithm and friends: never a traceback
        raise _error(where, f"is not a usable PEM private key ({type(exc).__name__})") from None


def default_alg(key: Any) -> str:
    """RS256 for RSA, ES256/384/512 by curve, EdDSA for Ed25519 and Ed448."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {curve: alg for alg, curve in EC_ALGORITHMS.items()}
        return by_curve.get(key.curve.name, "ES256")
    return "EdDSA"


def check_alg(key: Any, alg: str, where: tuple[str, str]) -> None:
    """The algorithm must be one we sign with and fit the key (RSA, its EC curve, EdDSA)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if alg not in ALGORITHMS:
        supported = ", ".join(ALGORITHMS)
        raise ConfigError(f"profile {where[0]!r}: alg {alg!r} is not supported ({supported})")
    if isinstance(key, rsa.RSAPrivateKey):
        fits = alg in RSA_ALGORITHMS
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        fits = EC_ALGORITHMS.get(alg) == key.curve.name
    else:
        edwards = (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
        fits = alg == "EdDSA" and isinstance(key, edwards)
    if not fits:
        raise ConfigError(
            f"profile {where[0]!r}: alg {alg} does not fit the key in {where[1]} "
            f"(a {_key_kind(key)} key signs with {default_alg(key)})",
            hint="set alg to match the key, or leave it out to use the key's default",
        )


def _key_kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "")


def _error(where: tuple[str, str], problem: str, hint: str | None = None) -> ConfigError:
    profile, field = where
    return ConfigError(f"profile {profile!r}, field {field}: the key {problem}", hint=hint)


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Header and claims of a compact JWS, unverified (for display and expiry only), or None."""
    import base64

    parts = token.split(".")
    if len(parts) != 3 or len(token) > 64 * 1024:
        return None
    try:
        header, payload = (
            boundedjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        )
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict) or "alg" not in header:
        return None
    return header, payload
