"""The JWT checks of `validate`: parse the token, check its claims (exp, nbf, iss, aud) and
verify its signature with a key from a JWK Set.

Pure functions of the token, the settings and the clock: no World, no network. The JWK Set
comes through a ``KeySource`` that ``validation`` supplies. PyJWT loads only inside ``_verify``,
so importing this module stays cheap.

``Check`` and its results live here, the lower layer, so that ``validation`` can import them
without a cycle.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from oauthcli import boundedjson
from oauthcli.errors import OAuthCliError
from oauthcli.token import iso8601

PASS, FAIL, SKIPPED, ERROR = "pass", "fail", "skipped", "error"
# Which JWS algorithms each JWK key type may verify; symmetric (HS*) keys never come from a JWKS.
KEY_ALGS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA",),
}
EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: later NumericDates cannot be shown or compared


@dataclass(frozen=True)
class Check:
    name: str
    result: str  # pass, fail, skipped, error
    detail: str
    hint: str | None = None
    error: OAuthCliError | None = field(default=None, compare=False)


# --- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any] | None  # None: encrypted, or the payload is not a JSON object
    encrypted: bool = False


def parse_jwt(token: str) -> Jwt | None:
    """The JWT's header and unverified claims; None for an opaque token."""
    parts = token.split(".")
    if len(parts) not in (3, 5):
        return None
    header = _segment(parts[0])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    if len(parts) == 5:
        return Jwt(header, None, encrypted=True)
    claims = _segment(parts[1])
    return Jwt(header, claims if isinstance(claims, dict) else None)


def _segment(part: str) -> Any:
    try:
        return boundedjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None


def numeric_date(value: Any) -> float | None:
    """``value`` as a NumericDate (seconds since the epoch) that can be shown, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value <= MAX_TIME else None  # NaN and inf fail this too


def claim_number(jwt: Jwt | None, name: str) -> float | None:
    return numeric_date(jwt.claims.get(name) if jwt and jwt.claims else None)


def not_readable(jwt: Jwt | None) -> str | None:
    """Why the JWT claims cannot be checked, or None when they can."""
    if jwt is None:
        return "not a JWT (opaque token)"
    if jwt.encrypted:
        return "encrypted JWT (JWE): claims not readable"
    if jwt.claims is None:
        return "the JWT payload is not readable"
    return None


# --- claims -----------------------------------------------------------------------------------


def structure(jwt: Jwt | None, expected_by: tuple[str, ...] = ()) -> Check:
    """Is it a JWT at all? With ``expected_by`` (the JWT settings configured), it must be one
    whose claims can be read: those settings cannot be checked on anything else."""
    if jwt is None or jwt.encrypted:
        what = "not a JWT (opaque token)" if jwt is None else (
            f"encrypted JWT (JWE, alg {jwt.header['alg']}): claims not readable")  # fmt: skip
        if expected_by:
            verb = "expects" if len(expected_by) == 1 else "expect"
            return Check("jwt", FAIL, f"{what}, but {' and '.join(expected_by)} {verb} a JWT",
                         "if this provider's access tokens are opaque, check them with "
                         "validate.introspection_url or validate.probe instead")  # fmt: skip
        return Check("jwt", SKIPPED, what)
    alg = jwt.header["alg"]
    if jwt.claims is None:
        return Check("jwt", FAIL, "malformed JWT: the payload is not a JSON object")
    if alg.lower() == "none":
        return Check("jwt", FAIL, "unsigned JWT (alg: none)")
    kid = jwt.header.get("kid")
    return Check("jwt", PASS, f"JWT, alg {alg}" + (f", kid {kid}" if kid is not None else ""))


def time_claim(jwt: Jwt | None, name: str, now: float, leeway: float) -> Check:
    """The ``exp`` or ``nbf`` check, ``leeway`` seconds allowed for clock skew."""
    reason = not_readable(jwt)
    if reason:
        return Check(name, SKIPPED, reason)
    assert jwt is not None and jwt.claims is not None
    if name not in jwt.claims:
        return Check(name, SKIPPED, f"no {name} claim")
    value = claim_number(jwt, name)
    if value is None:
        return Check(name, FAIL, f"{name} is not a valid NumericDate")
    return _exp(value, now, leeway) if name == "exp" else _nbf(value, now, leeway)


def _exp(value: float, now: float, leeway: float) -> Check:
    if now >= value + leeway:
        ago = int(now - value)
        return Check("exp", FAIL, f"expired at {iso8601(value)}, {ago} s ago (leeway {leeway:g} s)")
    return Check("exp", PASS, f"expires at {iso8601(value)}")


def _nbf(value: float, now: float, leeway: float) -> Check:
    if now + leeway < value:
        ahead = int(value - now)
        detail = f"not valid before {iso8601(value)}, in {ahead} s (leeway {leeway:g} s)"
        return Check("nbf", FAIL, detail)
    return Check("nbf", PASS, f"valid since {iso8601(value)}")


def iss(jwt: Jwt | None, expected: str | None) -> Check:
    reason = not_readable(jwt)
    if reason or expected is None:
        return Check("iss", SKIPPED, reason or "no issuer configured (validate.issuer or issuer)")
    assert jwt is not None and jwt.claims is not None
    actual = jwt.claims.get("iss")
    if actual == expected:
        return Check("iss", PASS, f"iss is {expected}")
    got = "no iss claim" if actual is None else f"iss is {actual!r}"
    return Check("iss", FAIL, f"{got}, expected {expected!r}")


def aud(jwt: Jwt | None, expected: tuple[str, ...]) -> Check:
    reason = not_readable(jwt)
    if reason or not expected:
        return Check("aud", SKIPPED, reason or "no audience configured (validate.audience)")
    assert jwt is not None and jwt.claims is not None
    actual = jwt.claims.get("aud")
    values = [actual] if isinstance(actual, str) else actual if isinstance(actual, list) else []
    matched = [a for a in expected if a in values]
    if matched:
        return Check("aud", PASS, f"aud includes {matched[0]!r}")
    wanted = repr(expected[0]) if len(expected) == 1 else f"one of {list(expected)!r}"
    got = "no aud claim" if actual is None else f"aud is {actual!r}"
    return Check("aud", FAIL, f"{got}, expected {wanted}")


# --- signature --------------------------------------------------------------------------------


class KeySource(Protocol):
    """Fetches the JWK Set: returns it and whether it came from the network (not a cache);
    ``refetch`` bypasses the cache."""

    def __call__(self, *, refetch: bool = False) -> tuple[Mapping[str, Any], bool]: ...


def signature_precheck(jwt: Jwt | None) -> Check | None:
    """The signature verdict that needs no JWK Set, or None when the keys must decide."""
    if jwt is None or jwt.encrypted:
        return Check("signature", SKIPPED, not_readable(jwt) or "")
    if jwt.header["alg"].lower() == "none":
        return Check("signature", FAIL, "unsigned JWT (alg: none)")
    return None


def verify_signature(token: str, jwt: Jwt, url: str, fetch: KeySource) -> Check:
    """Verify a signed ``jwt`` (past ``signature_precheck``) with the JWK Set at ``url``."""
    alg = jwt.header["alg"]
    if alg.startswith("HS"):
        return Check("signature", FAIL, f"alg {alg} is symmetric: a JWK Set cannot verify it")
    keys = _signing_keys(jwt.header, fetch)
    if not keys:
        kid = jwt.header.get("kid")
        which = f"no key with kid {kid!r}" if kid is not None else "no signing key"
        return Check("signature", FAIL, f"{which} in the JWK Set at {url}")
    return _verify_any(token, alg, keys, url)


def _signing_keys(header: Mapping[str, Any], fetch: KeySource) -> list[dict[str, Any]]:
    """The keys that may have signed the token; an unknown kid refetches a cached set once."""
    keyset, fetched = fetch()
    keys = _candidates(keyset, header)
    if not keys and header.get("kid") is not None and not fetched:
        keyset, fetched = fetch(refetch=True)
        keys = _candidates(keyset, header)
    return keys


def _candidates(keyset: Mapping[str, Any], header: Mapping[str, Any]) -> list[dict[str, Any]]:
    listed = keyset.get("keys")
    keys = [k for k in listed if isinstance(k, dict)] if isinstance(listed, list) else []
    keys = [k for k in keys if k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    return keys if kid is None else [k for k in keys if k.get("kid") == kid]


def _verify_any(token: str, alg: str, keys: list[dict[str, Any]], url: str) -> Check:
    reasons: list[str] = []
    for jwk in keys:
        reason = _mismatch(alg, jwk) or _verify(token, alg, jwk)
        if reason is None:
            return Check("signature", PASS, f"verified with key {_label(jwk)} ({alg}) from {url}")
        reasons.append(reason)
    return Check("signature", FAIL, "; ".join(dict.fromkeys(reasons)))


def _label(jwk: Mapping[str, Any]) -> str:
    kid = jwk.get("kid")
    return repr(kid) if kid is not None else f"(no kid, kty {jwk.get('kty')})"


def _mismatch(alg: str, jwk: Mapping[str, Any]) -> str | None:
    """Why this key cannot verify ``alg`` (no algorithm confusion), or None."""
    kty = jwk.get("kty")
    if alg not in KEY_ALGS.get(str(kty), ()):
        return f"alg {alg} does not match key {_label(jwk)} of type {kty}"
    if kty == "EC" and jwk.get("crv") != EC_CURVES[alg]:
        return f"alg {alg} needs curve {EC_CURVES[alg]}; key {_label(jwk)} is {jwk.get('crv')}"
    if jwk.get("alg") not in (None, alg):
        return f"key {_label(jwk)} is for alg {jwk.get('alg')}, the token says {alg}"
    return None


def _verify(token: str, alg: str, jwk: Mapping[str, Any]) -> str | None:
    import jwt  # lazy: the cached `token` path must never load PyJWT

    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        return f"key {_label(jwk)} is unusable: {exc}"
    try:
        jwt.PyJWS().decode_complete(token, key=key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        return f"the signature does not verify with key {_label(jwk)}"
    except jwt.PyJWTError as exc:
        return f"not verifiable with key {_label(jwk)}: {exc}"
    return None
