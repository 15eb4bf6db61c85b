"""Rules the cached route shares with the full path, in a module that imports nothing.

Each has a twin in the full path (named below) and a test that they agree.
"""

from __future__ import annotations

_STEM_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_STEM_REST = _STEM_FIRST | frozenset(".@-")
_NAME_REST = _STEM_FIRST | frozenset(".-")
# The variables `env` exports by default (export.shells.DEFAULT_EXPORT).
DEFAULT_EXPORT = {"ACCESS_TOKEN": "access_token", "TOKEN_TYPE": "token_type",
                  "ACCESS_TOKEN_EXPIRES_AT": "expires_at"}  # fmt: skip
DEFAULT_USERNAME = "oauth2"  # git-credential's username (export.git.DEFAULT_USERNAME)
PUBLIC_FIELDS = frozenset(  # exported, but no secret (export.variables.PUBLIC_FIELDS)
    {"token_type", "expires_at", "expires_in", "expires_at_epoch", "scope", "profile"}
)


def margin(wanted: float, expiry: float, obtained_at: float) -> float:
    """``min_valid``, capped at half the token's lifetime (grants.driver.is_fresh, SPEC §13)."""
    return min(wanted, max(0.0, expiry - obtained_at) / 2)


def is_fresh(expires_at: float | None, obtained_at: float, wanted: float, assume_ttl: float,
             now: float) -> bool:  # fmt: skip
    expiry = expires_at if expires_at is not None else obtained_at + assume_ttl
    return expiry - now > margin(wanted, expiry, obtained_at)


def digest(text: str, size: int = 6) -> str:
    """BLAKE2 from CPython itself (store.keys.digest): hashlib would start OpenSSL."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - not CPython
        from hashlib import blake2b
    return blake2b(text.encode("utf-8"), digest_size=size).hexdigest()


def profile_name(name: str) -> bool:
    """A valid profile name (config.model.PROFILE_NAME)."""
    return bool(name) and name[0] in _STEM_FIRST and all(c in _NAME_REST for c in name)


def _safe_stem(name: str) -> bool:
    return 0 < len(name) <= 100 and name[0] in _STEM_FIRST and all(c in _STEM_REST for c in name)


def file_stem(name: str) -> str:
    """The state file's name without ``.json`` (store.keys.file_stem)."""
    if _safe_stem(name):
        return name
    head = name.split("@", 1)[0]
    if not _safe_stem(head) or len(head) > 64:
        head = "grant"
    return f"{head}@{digest(name)}"
