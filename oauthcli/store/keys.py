"""Names → keys: a stored grant's name is any string; files and Redis keys must be safe.

The driver names a grant by its identity (SPEC §10, §13): the profile name, then ``@`` and
what identifies the grant (token endpoint or issuer, client id), e.g. ``grant_key("corp",
"https://id.example.com", "my-cli")``. Profile names never contain ``@``, so the part before
the first ``@`` is always the profile, which is all that messages show.

Files: a name that is itself a safe file name (a profile name) is used as it is (``corp.json``);
any other name becomes ``<profile>@<digest>.json`` (SPEC §6: ``corp@3f2a9c.json``), the full name
kept inside the file. Redis: the name percent-encoded after a fixed prefix.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

SAFE_STEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}\Z")  # e.g. corp, corp@3f2a9c4d5e6f
_KEY_SAFE = "@:/._-~+=,"  # kept readable in Redis keys; everything else (even '%') is escaped


def grant_key(profile: str, endpoint: str | None, client_id: str | None) -> str:
    """The stored name of a grant: the same on every machine, different for different grants."""
    return f"{profile}@{quote(endpoint or '', safe=':/')}@{quote(client_id or '', safe='')}"


def profile_of(name: str) -> str:
    """The profile part of a stored name, for messages."""
    return name.split("@", 1)[0]


def digest(text: str, size: int = 6) -> str:
    """A short hex digest (``size`` bytes). BLAKE2 from CPython itself: ``import hashlib``
    would load OpenSSL (≈ 5 ms), which the cached `token` path avoids."""
    try:
        from _blake2 import blake2b
    except ImportError:  # not CPython
        from hashlib import blake2b
    return blake2b(text.encode("utf-8"), digest_size=size).hexdigest()


def file_stem(name: str) -> str:
    """The state file's name without ``.json``: the name itself when safe, else hashed."""
    if SAFE_STEM.match(name):
        return name
    head = profile_of(name)
    if not SAFE_STEM.match(head) or len(head) > 64:
        head = "grant"
    return f"{head}@{digest(name)}"


def redis_key(prefix: str, kind: str, name: str) -> str:
    return f"{prefix}:{kind}:{quote(name, safe=_KEY_SAFE)}"


def name_of_redis_key(prefix: str, kind: str, key: str) -> str | None:
    head = f"{prefix}:{kind}:"
    return unquote(key[len(head) :]) if key.startswith(head) else None
