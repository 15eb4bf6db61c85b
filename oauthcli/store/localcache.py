"""The local cache: documents that are not token state (discovery metadata, JWK Sets, the parsed
profiles file), kept in the local state dir as dot-files, whichever token store is in use.

Every failure to read is a miss; writes go through the same atomic 0600 path as state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from oauthcli.store.fsutil import atomic_write


class LocalCache:
    def __init__(self, directory: os.PathLike[str] | str) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        return self.directory / f".{name}.json"

    def get(self, name: str) -> Any:
        """The JSON document stored under ``name``, or None (missing, unreadable, not JSON)."""
        try:
            with open(self.path(name), encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def put(self, name: str, document: Any) -> None:
        """Store a JSON document (raises OSError/StateError/TypeError: callers may ignore them)."""
        atomic_write(self.directory, self.path(name), json.dumps(document).encode("utf-8"))

    def get_fetched(self, kind: str, key: str, ttl: float, now: float) -> dict[str, Any] | None:
        """A fetched document (``kind``: discovery, jwks) for ``key``, unless older than ``ttl``."""
        cached = self.get(_keyed(kind, key))
        if not isinstance(cached, dict) or cached.get("key") not in (key, None):
            return None
        fetched_at = cached.get("fetched_at")
        if not isinstance(fetched_at, (int, float)) or not 0 <= now - fetched_at <= ttl:
            return None
        document = cached.get("metadata")
        return document if isinstance(document, dict) else None

    def put_fetched(self, kind: str, key: str, document: dict[str, Any], now: float) -> None:
        self.put(_keyed(kind, key), {"fetched_at": now, "key": key, "metadata": document})


def _keyed(kind: str, key: str) -> str:
    import hashlib  # OpenSSL start-up stays off the cached token path

    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
