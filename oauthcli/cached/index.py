"""The index of the parsed profiles file: what the cached route needs of each profile, one line
per profile, so that answering for one profile reads one line, whatever the file holds.

Written by config.cache beside the parsed copy (``.profiles-cache.json``), under the same key
(the file's path and stat) and only when that copy is written: never for a file with a literal
secret in it. The first line is the header ``{"format", "key", "store"}``; then one line
``"NAME"<TAB>{…}`` per profile that builds (a profile that does not is left out, so the cached
route hands it to the full path, which reports the error). JSON with ``ensure_ascii``: no line
holds a raw newline or tab. Reading it imports nothing beyond ``json``.
"""

from __future__ import annotations

import os
import stat

from oauthcli.cached import jsonlite

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from oauthcli.config.model import Config, Profile

NAME = ".profiles-index"
FORMAT = 1
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def write(directory: Path, key: tuple[Any, ...], document: dict[str, Any]) -> None:
    """Write the index of ``document`` (raises OSError, OAuthCliError: callers may ignore them)."""
    import json

    from oauthcli.config.load import config_from
    from oauthcli.store.fsutil import atomic_write

    config = config_from(document, "<index>")
    lines = [json.dumps({"format": FORMAT, "key": list(key), "store": config.store})]
    for name in config.names:
        entry = _entry(config, name)
        if entry is not None:
            lines.append(json.dumps(name) + "\t" + json.dumps(entry))
    atomic_write(directory, directory / NAME, ("\n".join(lines) + "\n").encode("ascii"))


def _entry(config: Config, name: str) -> dict[str, Any] | None:
    try:
        profile = config.profile(name)
    except Exception:  # noqa: BLE001 - whatever the full path says about it, it says it there
        return None
    endpoint, client = raw_identity(profile)
    return {"endpoint": endpoint, "client": client, "min_valid": profile.min_valid,
            "assume_ttl": profile.assume_ttl, "export": profile.export or None,
            "git_username": (profile.git or {}).get("username", "oauth2")}  # fmt: skip


def raw_identity(profile: Profile) -> tuple[list[Any], Any]:
    """(prefix, value, where) of the grant's endpoint, and its client id, unresolved: what
    grants.identity.endpoint_and_client resolves (tests/test_fastpath.py compares the two)."""
    grant = profile.grant or {}
    endpoint: list[Any]
    if profile.token_url:
        endpoint = ["", profile.token_url, "token_url"]
    elif profile.issuer:
        endpoint = ["issuer ", profile.issuer, "issuer"]
    else:
        endpoint = ["key_file ", grant.get("key_file"), "grant.key_file"]
    auth = profile.auth or {}
    body = profile.body if isinstance(profile.body, dict) else {}
    return endpoint, auth.get("client_id", body.get("client_id", grant.get("iss", "")))


def find(data: bytes, key: list[Any], name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, entry) of profile ``name`` (a valid profile name) if ``data`` is the index of
    the file with this ``key``; else None."""
    end = data.find(b"\n")
    header = jsonlite.loads(data[:end])
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("key") != key:
        return None
    marker = b'\n"' + name.encode("ascii") + b'"\t'
    at = data.find(marker)
    if at < 0:
        return None
    start = at + len(marker)
    entry = jsonlite.loads(data[start : data.find(b"\n", start)])
    return (header, entry) if isinstance(entry, dict) else None


def read_head(path: str, size: int) -> bytes | None:
    """At most ``size`` bytes of a regular file (no symlink followed, as store.fsutil reads),
    or None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, _FLAGS)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(size)
