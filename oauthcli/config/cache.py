"""A parsed copy of the profiles file in the local cache, so most runs need not import yaml.

Keyed by the file's resolved path, mtime (ns), size and inode: any edit is a miss. Stored as
JSON; data JSON cannot represent exactly is not cached, and neither is a file with a literal
secret in it (only references are ever copied). Failures to read or write the copy are never
errors: the file is simply parsed again.
"""

from __future__ import annotations

import json
from typing import Any

from oauthcli.errors import OAuthCliError
from oauthcli.redact import is_secret_key
from oauthcli.store.localcache import LocalCache

NAME = "profiles-cache"


class ParsedConfigCache:
    def __init__(self, cache: LocalCache) -> None:
        self._cache = cache

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        cached = self._cache.get(NAME)
        if not isinstance(cached, dict) or cached.get("key") != list(key):
            return None
        data = cached.get("data")
        return data if isinstance(data, dict) else None

    def put(self, key: tuple[Any, ...], data: dict[str, Any]) -> None:
        if _literal_secret(data):
            return  # a secret written in the profiles file is not copied anywhere else
        try:
            if json.loads(json.dumps(data)) != data:  # e.g. dates or integer keys: not exact
                return
            self._cache.put(NAME, {"key": list(key), "data": data})
        except (TypeError, ValueError, OSError, OAuthCliError):
            return


def _literal_secret(value: Any, key: str = "") -> bool:
    """True when a secret-named key holds a literal value rather than a reference."""
    if isinstance(value, dict):
        return any(_literal_secret(v, str(k)) for k, v in value.items())
    if isinstance(value, list):
        return any(_literal_secret(v, key) for v in value)
    if isinstance(value, str) and value and is_secret_key(key):
        return not value.startswith("${") or not value.endswith("}")
    return False
