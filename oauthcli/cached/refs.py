"""What the cached route can resolve by itself: ``$$`` and ``${env:…}`` references.
``None`` always means "not here": the full path decides.

The twins are config.refs.Resolver (the references) and grants.identity._cheap (how a grant's
endpoint and client are read).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from collections.abc import Mapping

_ENV_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ENV_REST = _ENV_FIRST | frozenset("0123456789")


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
