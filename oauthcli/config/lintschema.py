"""`check`'s walk over the schema: every unknown key at any depth the schema knows, with its close
match, and each known key's own checks (config.schema) with the unknown keys below it left out,
so one misspelling does not hide the next problem."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from oauthcli.config import schema
from oauthcli.errors import ConfigError

Path = tuple[Any, ...]
Origin = Callable[[Path], Path]


class Reporter(Protocol):
    """What the walk reports to (config.lint's run of one check)."""

    @property
    def source(self) -> str: ...

    def add(self, origin: Path, level: str, message: str, hint: str | None = None) -> None: ...

    def origin(self, name: str, path: Path) -> Path: ...
_FIELD = re.compile(r"field ([\w.-]+):")


def _allowed(path: Path, value: Any) -> set[str] | None:
    """The keys allowed in the mapping at ``path`` of a profile (None: any)."""
    nested = {
        ("auth",): schema.AUTH_KEYS, ("validate",): schema.VALIDATE_KEYS,
        ("validate", "probe"): schema.PROBE_KEYS, ("login",): schema.LOGIN_KEYS,
        ("git",): schema.GIT_KEYS, ("response",): schema.RESPONSE_FIELDS,
    }  # fmt: skip
    if path == ():
        return set(schema.SCHEMA) | {"extends"}
    if path == ("grant",):
        kind = value.get("type") if isinstance(value, dict) else None
        grants = schema.GRANT_KEYS
        return set(grants[kind]) if kind in grants else set().union(*grants.values())
    return set(nested[path]) if path in nested else None


def unknown_keys(run: Reporter, path: Path, value: Any, origin: Origin) -> None:
    """Every unknown key, at any depth the schema knows, with its close match."""
    allowed = _allowed(path, value)
    if allowed is None or not isinstance(value, dict):
        return
    for key, item in value.items():
        here = (*path, key)
        if key not in allowed:
            dotted = ".".join(map(str, here))
            what = "response field" if path == ("response",) else "key"
            choices = sorted(allowed - {"extends"})
            run.add(origin(here), "error", f"unknown {what} {dotted!r}",
                    schema.close_match_hint(str(key), choices))  # fmt: skip
        else:
            unknown_keys(run, here, item, origin)


def _known_only(path: Path, value: Any) -> Any:
    allowed = _allowed(path, value)
    if allowed is None or not isinstance(value, dict):
        return value
    return {k: _known_only((*path, k), v) for k, v in value.items() if k in allowed}


def semantics(run: Reporter, name: str, merged: dict[str, Any]) -> None:
    """Each known key checked on its own, unknown nested keys left out (reported already)."""
    for key, value in merged.items():
        if key not in schema.SCHEMA:
            continue
        try:
            schema.check_key(run.source, name, key, _known_only((key,), value))
        except ConfigError as exc:
            run.add(run.origin(name, field_path(exc.message, key)), "error",
                    bare(exc.message, run.source), exc.hint)  # fmt: skip


def field_path(message: str, key: str | None = None) -> Path:
    match = _FIELD.search(message)
    if match:
        return tuple(match.group(1).split("."))
    return (key,) if key else ()


def bare(message: str, source: str) -> str:
    """The message without the file and profile it names: a finding shows both itself."""
    message = message.removeprefix(f"{source}: ")
    return re.sub(r"^profile '[^']*'[,:] ?", "", message)


def login_values(run: Reporter, name: str, merged: dict[str, Any]) -> None:
    """``login.flow`` and ``login.redirect_uri`` as `oauthcli login` reads them (it would
    refuse them with exit 3; check says so before anyone tries)."""
    from oauthcli.login.redirect import parse_redirect
    from oauthcli.login.run import FLOWS

    login = merged.get("login")
    if not isinstance(login, dict):
        return
    flow = login.get("flow", "browser")
    if flow not in FLOWS:
        run.add(run.origin(name, ("login", "flow")), "error",
                f"field login.flow: expected 'browser' or 'device', got {flow!r}",
                schema.close_match_hint(str(flow), sorted(FLOWS)))  # fmt: skip
    uri = login.get("redirect_uri")
    if isinstance(uri, str) and "${" not in uri:
        try:
            parse_redirect(uri, name)
        except ConfigError as exc:
            run.add(run.origin(name, ("login", "redirect_uri")), "error",
                    bare(exc.message, run.source), exc.hint)  # fmt: skip
