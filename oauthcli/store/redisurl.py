"""``redis://`` and ``rediss://`` store URLs: parsed once, by hand, without importing redis-py.

``redis[s]://[user:password@]host[:port][/db][?prefix=NAME&lease=S&timeout=S&ssl_ca_certs=PEM
&ssl_certfile=PEM&ssl_keyfile=PEM]``. Userinfo is percent-decoded (a password may hold any
character); what the URL says is described with the password left out, always.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from oauthcli.errors import ConfigError, TransientError

PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")  # no ':' and no glob characters: keys stay apart
_OPTIONS = ("prefix", "lease", "timeout", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_FIELDS = {"ssl_ca_certs": "ca_certs", "ssl_certfile": "certfile", "ssl_keyfile": "keyfile"}


@dataclass(frozen=True)
class RedisAddress:
    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    prefix: str = "oauthcli"
    lease: float = 5.0  # seconds a lease lasts unless renewed (it is, every third of it)
    timeout: float = 5.0  # connect and per-command socket timeout
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def describe(self) -> str:
        """``rediss://host:port/db``, never the password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = f"{'rediss' if self.tls else 'redis'}://{host}:{self.port}/{self.db}"
        return shown if self.prefix == "oauthcli" else f"{shown}?prefix={self.prefix}"

    @property
    def store_id(self) -> str:
        """What identifies the stored data (the local copy is bound to it); no credentials."""
        return f"{self.describe()}#{self.prefix}"

    def unreachable(self, why: str) -> TransientError:
        return TransientError(
            f"the token store {self.describe()} is unreachable: {self.scrub(why)}",
            hint="nothing was sent to the token endpoint; check the store and try again",
        )

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "****") if self.password else text


def parse(url: str) -> RedisAddress:
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}"
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(f"store URL {shown}…: the port is not a number") from None
    if not parts.hostname:
        raise ConfigError(f"store URL {shown}: no host")
    db_text = parts.path.lstrip("/") or "0"
    if not db_text.isdigit():
        raise ConfigError(
            f"store URL {shown}:{port}: the database must be a number, not {db_text!r}"
        )
    options = _options(parts.query, f"{shown}:{port}")
    return RedisAddress(
        tls=parts.scheme.lower() == "rediss",
        host=parts.hostname,
        port=port,
        db=int(db_text),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        **options,  # type: ignore[arg-type]
    )


def _options(query: str, shown: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _OPTIONS:
            from oauthcli.config.schema import close_match_hint

            raise ConfigError(f"store URL {shown}: unknown option {key!r}",
                              hint=close_match_hint(key, list(_OPTIONS)))  # fmt: skip
        if key == "prefix" and not PREFIX.match(value):
            raise ConfigError(f"store URL {shown}: prefix must be 1-64 of A-Z a-z 0-9 _ . -")
        if key in ("lease", "timeout"):
            options[key] = _seconds(value, key, shown)
        else:
            options[_FIELDS.get(key, key)] = value
    return options


def _seconds(value: str, key: str, shown: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 3600:
        raise ConfigError(f"store URL {shown}: {key} must be between 0.1 and 3600 seconds")
    return seconds
