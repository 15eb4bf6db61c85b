"""What the cached route can resolve by itself: ``$$`` and ``${env:…}`` references, and the
identity of a Redis store URL. ``None`` always means "not here": the full path decides.

The twins are config.refs.Resolver (the references), grants.identity._cheap (how a grant's
endpoint and client are read) and store.redisurl.parse (the store's ``store_id``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from collections.abc import Mapping

_ENV_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ENV_REST = _ENV_FIRST | frozenset("0123456789")
_PREFIX = _ENV_REST | frozenset(".-")
_REDIS_OPTIONS = ("prefix", "lease", "timeout", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def substitute(text: str, environ: Mapping[str, str]) -> str | None:
    """``text`` with its ``$$`` and ``${env:NAME[:-default]}`` (or ``${NAME}``) substituted;
    None if any other reference, or an unset variable without a default, is in it."""
    out: list[str] = []
    at = 0
    while (dollar := text.find("$", at)) >= 0:
        out.append(text[at:dollar])
        at = dollar + 1
        if text.startswith("$$", dollar):
            out.append("$")
            at += 1
            continue
        end = text.find("}", dollar + 2) if text.startswith("${", dollar) else -1
        inner = text[dollar + 2 : end]
        if end < 0 or "{" in inner:
            out.append("$")  # not a reference: kept as written
            continue
        value = _env(inner, environ)
        if value is None:
            return None
        out.append(value)
        at = end + 1
    out.append(text[at:])
    return "".join(out)


def _env(expression: str, environ: Mapping[str, str]) -> str | None:
    kind, sep, rest = expression.partition(":")
    if not sep:
        kind, rest = "env", expression
    if kind != "env" or expression == "refresh_token":
        return None
    name, has_default, default = rest.partition(":-")
    if not name or name[0] not in _ENV_FIRST or not all(c in _ENV_REST for c in name):
        return None
    value = environ.get(name)
    if value is None and has_default:
        return default
    return value


def identity_part(value: object, environ: Mapping[str, str]) -> str | None:
    """An endpoint or client id as a grant's identity reads it (grants.identity._cheap): only
    cheap references resolved, anything unresolvable as written; None for ``${file:}``."""
    if not isinstance(value, str):
        return ""
    if "$" not in value or "${cmd:" in value or "${github_oidc:" in value:
        return value
    if "${file:" in value:
        return None
    resolved = substitute(value, environ)
    return value if resolved is None else resolved


def redis_store_id(url: str) -> str | None:
    """``RedisAddress.store_id`` of a plain ``redis[s]://[user@]host[:port][/db][?…]`` URL."""
    if not url.isascii() or any(c <= " " or c in "#[]\\\x7f" for c in url):
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("redis", "rediss"):
        return None
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    path, _, query = tail.partition("?")
    host, _, port_text = netloc.rpartition("@")[2].partition(":")
    if (
        not host
        or "%" in host
        or any(c in query for c in "%+")
        or (port_text and not (port_text.isdigit() and int(port_text) <= 65535))
    ):
        return None
    db = path.lstrip("/") or "0"
    prefix = _redis_prefix(query)
    if not db.isdigit() or prefix is None:
        return None
    port = int(port_text or 0) or 6379
    shown = f"{scheme.lower()}://{host.lower()}:{port}/{int(db)}"
    return (shown if prefix == "oauthcli" else f"{shown}?prefix={prefix}") + f"#{prefix}"


def _redis_prefix(query: str) -> str | None:
    """The ``prefix`` option of the query (default ``oauthcli``); None for any doubt."""
    prefix = "oauthcli"
    for item in query.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if key not in _REDIS_OPTIONS:
            return None
        if key == "prefix":
            if not 1 <= len(value) <= 64 or not all(c in _PREFIX for c in value):
                return None
            prefix = value
        elif key in ("lease", "timeout") and not _seconds(value):
            return None
    return prefix


def _seconds(value: str) -> bool:
    try:
        return 0.1 <= float(value) <= 3600
    except ValueError:
        return False
