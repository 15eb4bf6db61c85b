"""A shared (Redis) store on the cached route: its address, this machine's local copy, and the
one read a cached `token` makes when that copy is not fresh (SPEC §8: ≤ 4 × `python -c pass`).

The twins: store.redisurl.parse (the URL; ``store_id``), store.local.LocalState (the copy: where
it is, what it holds, how it is written), store.redis.RedisStore.read (HMGET of generation, kid
and doc, through store.resp, the RESP reader that avoids redis-py). None means: the full path.
"""

from __future__ import annotations

import os

from oauthcli.cached import jsonlite, rules

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from typing import Any

_OPTIONS = {"prefix": "prefix", "lease": "lease", "timeout": "timeout",  # URL → RedisAddress
            "ssl_ca_certs": "ca_certs", "ssl_certfile": "certfile",
            "ssl_keyfile": "keyfile"}  # fmt: skip
_PREFIX = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_KEY_SAFE = _PREFIX | frozenset("@:/~+=,")  # store.keys._KEY_SAFE, and what quote() keeps
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class Address:
    """What store.resp.call reads of a RedisAddress, and its ``store_id``."""

    def __init__(self, tls: bool, host: str, port: int, db: int, userinfo: str | None,
                 options: dict[str, Any]) -> None:  # fmt: skip
        self.tls, self.host, self.port, self.db = tls, host, port, db
        user, has_password, password = (userinfo or "").partition(":")
        self.username = _unquote(user) if user else None
        self.password = _unquote(password) if userinfo is not None and has_password else None
        self.prefix: str = options.get("prefix", "oauthcli")
        self.timeout: float = options.get("timeout", 5.0)
        self.ca_certs = options.get("ca_certs")
        self.certfile = options.get("certfile")
        self.keyfile = options.get("keyfile")
        shown = f"{'rediss' if tls else 'redis'}://{host}:{port}/{db}"
        shown = shown if self.prefix == "oauthcli" else f"{shown}?prefix={self.prefix}"
        self.store_id = f"{shown}#{self.prefix}"


def address(url: str) -> Address | None:
    """A plain ``redis[s]://[user:password@]host[:port][/db][?…]`` URL, as parse() reads it."""
    if not url.isascii() or any(c <= " " or c in "#[]\\\x7f" for c in url):
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("redis", "rediss"):
        return None
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    path, _, query = tail.partition("?")
    userinfo, at, hostinfo = netloc.rpartition("@")
    host, _, port_text = hostinfo.partition(":")
    port_ok = not port_text or (port_text.isdigit() and int(port_text) <= 65535)
    db = path.lstrip("/") or "0"
    options = _options(query) if "%" not in query and "+" not in query else None
    if not host or "%" in host or not port_ok or not db.isdigit() or options is None:
        return None
    port = int(port_text or 0) or 6379
    return Address(scheme.lower() == "rediss", host.lower(), port, int(db),
                   userinfo if at else None, options)  # fmt: skip


def _options(query: str) -> dict[str, Any] | None:
    """The query's options (store.redisurl._options); None for any doubt."""
    found: dict[str, Any] = {}
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key not in _OPTIONS:
            return None
        if key == "prefix" and (not 1 <= len(value) <= 64 or not set(value) <= _PREFIX):
            return None
        if key in ("lease", "timeout"):
            try:
                seconds = float(value)
            except ValueError:
                return None
            if not 0.1 <= seconds <= 3600:
                return None
            found[_OPTIONS[key]] = seconds
        else:
            found[_OPTIONS[key]] = value
    return found


def _unquote(text: str) -> str:
    """urllib.parse.unquote of an ASCII text."""
    data, at = bytearray(), 0
    while (percent := text.find("%", at)) >= 0:
        data += text[at:percent].encode()
        pair = text[percent + 1 : percent + 3]
        if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
            data.append(int(pair, 16))
            at = percent + 3
        else:
            data += b"%"
            at = percent + 1
    data += text[at:].encode()
    return data.decode("utf-8", "replace")


def copy_path(state_dir: str, store: Address, name: str) -> str:
    return os.path.join(
        state_dir, f".copy-{rules.digest(store.store_id, 4)}-{rules.file_stem(name)}.json"
    )


def fetch(store: Address, name: str) -> bytes | None:
    """The stored document of ``name`` if its generation field agrees with it (one HMGET)."""
    if not set(name) <= _KEY_SAFE:  # percent-encoded in the key: left to the full path
        return None
    from oauthcli.store import resp

    key = f"{store.prefix}:state:{name}"
    fields = resp.call(store, ["HMGET", key, "generation", "kid", "doc"])[0]  # type: ignore[arg-type]
    if not isinstance(fields, list) or len(fields) != 3 or not all(fields[::2]):
        return None
    generation, _kid, doc = fields
    data = jsonlite.loads(doc)
    if (
        not generation.isdigit()
        or not isinstance(data, dict)
        or data.get("generation") != int(generation)
    ):
        return None
    return bytes(doc)


def keep_copy(state_dir: str, store: Address, name: str, doc: bytes) -> None:
    """Replace the local copy with ``doc`` minus every refresh token (LocalState.put_copy)."""
    from oauthcli.scrub import scrub  # only when a copy is rewritten, not on every answer

    data = jsonlite.loads(doc)
    token = dict(data["token"])
    secrets = {t for t in (data.get("rotated_refresh_token"), token.get("refresh_token")) if t}
    token.update(refresh_token=None, response=scrub(token.get("response", {}), secrets))
    copy = {**data, "token": token, "rotated_refresh_token": None}
    wrapper = {"store": store.store_id, "state": jsonlite.dumps(copy)}
    _atomic_write(state_dir, copy_path(state_dir, store, name), jsonlite.dumps(wrapper).encode())



def _atomic_write(directory: str, target: str, data: bytes) -> None:
    """store.fsutil.atomic_write: a 0600 temp file, fsync, rename, fsync of the directory."""
    if os.path.islink(target):
        raise OSError(f"{target} is a symbolic link")
    temp = os.path.join(directory, f".{os.path.basename(target)}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, _FLAGS, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with _suppressed():
            os.unlink(temp)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


class _suppressed:
    """contextlib.suppress(OSError), without importing contextlib."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> bool:
        return isinstance(kind, type) and issubclass(kind, OSError)
