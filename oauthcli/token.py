"""A token as received, normalised on arrival: ``expires_in`` becomes an absolute ``expires_at``.

Kept free of heavy imports: the cached `token` path uses it.
"""


import base64
import binascii
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from oauthcli import boundedjson

_NONE: Mapping[str, Any] = {}  # the shared default response: never mutated


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.token``), or None."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The unverified payload of a JWT-shaped token, or None (no JWT library needed)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = boundedjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


_MAX_SECONDS = 1e10  # about year 2286 as an epoch time; beyond that a value is nonsense


def _number(value: Any) -> float | None:
    """A finite, sane number of seconds (int, float or numeric string), else None (unknown)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and -_MAX_SECONDS < value < _MAX_SECONDS:
        return float(value)  # NaN fails both comparisons
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def iso8601(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Token(NamedTuple):
    access_token: str
    token_type: str | None = None
    expires_at: float | None = None  # absolute, seconds since the epoch; None = unknown
    scope: str | None = None
    refresh_token: str | None = None  # only when the response carried one
    id_token: str | None = None
    obtained_at: float = 0.0
    response: Mapping[str, Any] = _NONE

    @classmethod
    def from_response(
        cls, data: Mapping[str, Any], paths: Mapping[str, str], now: float
    ) -> "Token | None":
        """Normalise a token response; None when it holds no access token."""

        def get(name: str) -> Any:
            return dig(data, paths.get(name, name))

        access_token = _text(get("access_token"))
        if not access_token:
            return None
        expires_in = _number(get("expires_in"))
        expires_at = _number(get("expires_at")) if "expires_at" in paths else None
        if expires_in is not None:
            expires_at = now + expires_in
        elif expires_at is None:
            exp = (jwt_claims(access_token) or {}).get("exp")
            expires_at = _number(exp)
        scope = get("scope")
        if isinstance(scope, list):
            scope = " ".join(str(s) for s in scope)
        return cls(
            access_token=access_token,
            token_type=_text(get("token_type")),
            expires_at=expires_at,
            scope=_text(scope),
            refresh_token=_text(get("refresh_token")) or None,
            id_token=_text(get("id_token")),
            obtained_at=now,
            response=dict(data),
        )

    def effective_expiry(self, assume_ttl: float) -> float:
        """The expiry, or for an unknown one, ``obtained_at + assume_ttl``."""
        if self.expires_at is not None:
            return self.expires_at
        return self.obtained_at + assume_ttl

    def is_expired(self, now: float, leeway: float = 60, assume_ttl: float = 3600) -> bool:
        """True when fewer than ``leeway`` seconds of validity remain."""
        return self.effective_expiry(assume_ttl) - now <= leeway

    def expires_in(self, now: float) -> int | None:
        return None if self.expires_at is None else int(self.expires_at - now)

    def public(self, profile: str, now: float | None = None) -> dict[str, Any]:
        """The normalized fields printed by `-f json` (never the refresh token)."""
        now = time.time() if now is None else now
        return {
            "profile": profile,
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": iso8601(self.expires_at),
            "expires_in": self.expires_in(now),
            "scope": self.scope,
        }

    def field(self, name: str, now: float | None = None) -> Any:
        """A normalized field (for `env`), or a dotted path into the response."""
        now = time.time() if now is None else now
        normalized = {
            **self.public("", now),
            "expires_at_epoch": None if self.expires_at is None else int(self.expires_at),
            "id_token": self.id_token,
        }
        if name in normalized:
            return normalized[name]
        return dig(self.response, name)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = self._asdict()
        data["response"] = dict(self.response)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Token":
        known = {k: data[k] for k in cls._fields if k in data}
        if not isinstance(known.get("access_token"), str):  # "" = only a rotated refresh token
            raise ValueError("no access_token")
        return cls(**known)
