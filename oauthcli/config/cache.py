"""A parsed copy of the profiles file in the local cache, so most runs need not import yaml.

Keyed by a format number and the file's resolved path, device, inode, size, mtime and ctime
(ns): any edit is a miss. Only a file that parsed and passed the top-level checks is put here
(config.load), so a duplicate key or an alias bomb is refused on every run, cached or not.
Stored as JSON; data JSON cannot represent exactly is not cached, and neither is a file with a
literal secret in it (config.literal: secret-named fields, URL query and userinfo, proxy and
store URLs, body strings): only references are ever copied. Failures to read or write the copy
are never errors: the file is simply parsed again.
"""

from __future__ import annotations

import json
import os
from typing import Any

from oauthcli.errors import OAuthCliError
from oauthcli.store.localcache import LocalCache

NAME = "profiles-cache"
INDEX = ".profiles-index"  # oauthcli.cached.index.NAME


class ParsedConfigCache:
    def __init__(self, cache: LocalCache) -> None:
        self._cache = cache

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        from oauthcli.store import fsutil

        try:  # refuses a FIFO or symlink planted there, without opening it
            raw = fsutil.read_bytes(self._cache.path(NAME))
            cached = json.loads(raw) if raw else None
        except (OAuthCliError, OSError, ValueError, RecursionError):
            return None
        if not isinstance(cached, dict) or cached.get("key") != list(key):
            return None
        data = cached.get("data")
        if not isinstance(data, dict):
            return None
        self._index(key, data, only_if_stale=True)  # a copy from before the index existed
        return data

    def put(self, key: tuple[Any, ...], data: dict[str, Any]) -> None:
        from oauthcli.config.literal import has_literal_secret

        if has_literal_secret(data):
            return  # a secret written in the profiles file is not copied anywhere else
        try:
            if json.loads(json.dumps(data)) != data:  # e.g. dates or integer keys: not exact
                return
            self._cache.put(NAME, {"key": list(key), "data": data})
        except (TypeError, ValueError, OSError, RecursionError, OAuthCliError):
            return
        self._index(key, data)

    def _index(
        self, key: tuple[Any, ...], data: dict[str, Any], only_if_stale: bool = False
    ) -> None:
        """The cached route's index of the same document (oauthcli.cached.index)."""
        directory = self._cache.directory
        if only_if_stale and os.path.lexists(directory / INDEX):
            return  # written with the copy; the cached route checks its key itself
        from oauthcli.cached import index

        try:
            index.write(directory, key, data)
        except (TypeError, ValueError, OSError, RecursionError, OAuthCliError):
            return
