"""`check`: lint a profiles file without sending anything or running ${cmd:} commands.

Every problem is reported in one run, each with the line where it is written (a value inherited
from ``defaults`` or an ``extends`` parent is reported once, where it is written), and a close
match for every misspelt key: at the top level, in ``defaults``, ``store``, profiles and their
``auth``, ``validate``, ``login``, ``grant``, ``git`` and ``response``. References are checked
with refs.problems, which never runs a command or fetches anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oauthcli.config import schema
from oauthcli.config.lintschema import (
    Path,
    bare,
    field_path,
    login_values,
    semantics,
    unknown_keys,
)  # fmt: skip
from oauthcli.config.refs import parse_reference, problems
from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.config.load import Checked

URL_FIELDS = ("token_url", "revocation_url", "issuer")
_REFERENCE = re.compile(r"\$\$|\$\{([^{}]*)\}")


@dataclass(frozen=True)
class Finding:
    profile: str  # "" for the top level, "defaults", or the profile where it is written
    level: str  # error or warning
    message: str
    line: int | None = None
    hint: str | None = None


@dataclass
class _Lint:
    checked: Checked
    found: list[Finding]
    seen: set[tuple[Path, str]]
    errors: int = 0  # errors met by the current profile, inherited ones included

    @property
    def source(self) -> str:
        return self.checked.config.source

    def line(self, path: Path) -> int | None:
        lines = self.checked.lines
        while path:
            if path in lines:
                return lines[path]
            path = path[:-1]
        return None

    def add(self, origin: Path, level: str, message: str, hint: str | None = None) -> None:
        self.errors += level == "error"
        if (origin, message) in self.seen:
            return  # an inherited problem: reported once, where it is written
        self.seen.add((origin, message))
        self.found.append(Finding(_label(origin), level, message, self.line(origin), hint))

    def origin(self, name: str, path: Path) -> Path:
        """Where a merged profile's value at ``path`` (or the nearest enclosing one) is written:
        the profile, an ``extends`` ancestor, or ``defaults``."""
        for length in range(len(path), 0, -1):
            found = self._written(name, path[:length])
            if found is not None:
                return found
        return ("profiles", name)

    def _written(self, name: str, path: Path) -> Path | None:
        config = self.checked.config
        current: str | None = name
        chain: list[str] = []
        while isinstance(current, str) and current in config.raw_profiles and current not in chain:
            chain.append(current)
            raw = config.raw_profiles[current]
            if _has(raw, path):
                return ("profiles", current, *path)
            current = raw.get("extends") if isinstance(raw, dict) else None
        if _has(config.defaults, path):
            return ("defaults", *path)
        return None


def _label(origin: Path) -> str:
    """Who a finding is about: a profile, ``defaults``, ``store``, or nobody (the top level)."""
    if origin[:1] == ("profiles",) and len(origin) > 1:
        return str(origin[1])
    return str(origin[0]) if origin[:1] in (("defaults",), ("store",)) else ""


def _has(mapping: Any, path: Path) -> bool:
    for key in path:
        if not isinstance(mapping, dict) or key not in mapping:
            return False
        mapping = mapping[key]
    return True


def lint(checked: Checked, environ: Mapping[str, str], strict: bool = False) -> list[Finding]:
    from oauthcli.config.load import top_level_problems

    run = _Lint(checked, [], set())
    for problem in top_level_problems(checked.document, run.source):
        run.add(_top_origin(problem.message), "error", bare(problem.message, run.source),
                problem.hint)  # fmt: skip
    _store(run, checked.document.get("store"))
    unknown_keys(run, (), dict(checked.config.defaults), lambda path: ("defaults", *path))
    for name in checked.config.names:
        _profile(run, str(name), environ, strict)
    return sorted(run.found, key=lambda f: f.line or 0)


def _top_origin(message: str) -> Path:
    match = re.search(r"(top-level key|profile name) '([^']*)'", message)
    if not match:
        return ()
    return (match.group(2),) if match.group(1) == "top-level key" else ("profiles", match.group(2))


def _store(run: _Lint, store: Any) -> None:
    if store is None or isinstance(store, str):
        return
    if not isinstance(store, dict):
        run.add(("store",), "error", "'store' must be a URL or a mapping with url and key")
        return
    for key, value in store.items():
        if key not in ("url", "key"):
            run.add(("store", key), "error", f"unknown key 'store.{key}'",
                    schema.close_match_hint(str(key), ["url", "key"]))  # fmt: skip
        elif not isinstance(value, str):
            run.add(("store", key), "error", f"store.{key} must be a string")


def _profile(run: _Lint, name: str, environ: Mapping[str, str], strict: bool) -> None:
    config = run.checked.config
    try:
        merged = config.merged(name)
    except ConfigError as exc:
        run.add(("profiles", name), "error", bare(exc.message, run.source), exc.hint)
        return
    run.errors = 0
    merged = {k: v for k, v in merged.items() if v is not None}  # `key: null` is as if absent
    unknown_keys(run, (), merged, lambda path: run.origin(name, path))
    semantics(run, name, merged)
    if not run.errors:
        try:  # anything the walk above does not know about yet
            config.profile(name)
        except ConfigError as exc:
            run.add(run.origin(name, field_path(exc.message)), "error",
                    bare(exc.message, run.source), exc.hint)  # fmt: skip
    _references(run, name, merged, environ, strict)
    _insecure(run, name, merged)
    _rotation(run, name, merged)
    _machine_identity(run, name, merged)
    login_values(run, name, merged)


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))
    elif isinstance(value, str):
        yield path, value


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _references(
    run: _Lint, name: str, merged: dict[str, Any], environ: Mapping[str, str], strict: bool
) -> None:
    for path, text in _strings(merged, ()):
        where = _dotted(path)
        for match in _REFERENCE.finditer(text):
            if match.group(1) is None:
                continue
            try:
                ref = parse_reference(match.group(1))
            except ValueError as exc:
                run.add(run.origin(name, path), "error", f"field {where}: {exc}")
                continue
            reason = problems(ref, environ)
            if reason:
                level = "error" if strict else "warning"
                run.add(run.origin(name, path), level, f"field {where}: {reason}")


def _insecure(run: _Lint, name: str, merged: dict[str, Any]) -> None:
    from oauthcli.wire.request import is_loopback

    if merged.get("verify") is False:
        run.add(run.origin(name, ("verify",)), "warning",
                "verify: false disables TLS certificate checks")  # fmt: skip
    for key in URL_FIELDS:
        url = merged.get(key)
        if isinstance(url, str) and url.startswith("http://"):
            try:
                host = urlsplit(url).hostname
            except ValueError:
                continue
            if is_loopback(host):
                continue
            level = "warning" if merged.get("insecure") else "error"
            run.add(run.origin(name, (key,)), level, f"{key} uses plain http:// to {host}")


def _rotation(run: _Lint, name: str, merged: dict[str, Any]) -> None:
    body = merged.get("body")
    for path, written in _body_refresh_tokens(body):
        run.add(run.origin(name, ("body", *path)), "warning",
                f"body sends the refresh token as {_written(written)} instead of "
                "${refresh_token}: once the provider rotates it, that one is dead",
                hint="write refresh_token: ${refresh_token} in the body, and the initial token "
                "as the profile's refresh_token")  # fmt: skip
    if merged.get("refresh_token") and "${refresh_token}" not in str(body):
        run.add(run.origin(name, ("refresh_token",)), "warning",
                "refresh_token is set but the body never uses ${refresh_token}, "
                "so rotated refresh tokens would be ignored")  # fmt: skip


def _written(value: str) -> str:
    """How the body writes it, never the literal value itself."""
    references = [m.group(0) for m in _REFERENCE.finditer(value) if m.group(1)]
    return references[0] if len(references) == 1 and references[0] == value else "a literal"


def _body_refresh_tokens(body: Any) -> Iterator[tuple[Path, str]]:
    """Refresh tokens a body sends other than as ${refresh_token}: (path in body, value)."""
    if isinstance(body, str):
        text = body.strip()
        if text.startswith("{"):
            import json

            try:
                body = json.loads(text)
            except (ValueError, RecursionError):
                body = None
        else:
            from urllib.parse import unquote_plus

            for pair in text.split("&"):
                key, _, value = pair.partition("=")
                if unquote_plus(key) == "refresh_token" and value != "${refresh_token}":
                    yield (), value
            return
    if isinstance(body, dict):
        sent = body.get("refresh_token")
        if sent is not None and sent != "${refresh_token}":
            yield ("refresh_token",), str(sent)


def _machine_identity(run: _Lint, name: str, merged: dict[str, Any]) -> None:
    """A private key written into the file, and a service-account key file that cannot be read
    (found without reading it; no ${github_oidc:} token is fetched by check either)."""
    import os
    from pathlib import Path as FilePath

    for section in ("auth", "grant"):
        value = _get(merged.get(section), "key")
        if isinstance(value, str) and "PRIVATE KEY" in value and "${" not in value:
            run.add(run.origin(name, (section, "key")), "warning",
                    f"field {section}.key: a private key is written into the profiles file",
                    hint="keep it elsewhere: ${file:…}, ${env:…} or ${cmd:…}")  # fmt: skip
    grant = merged.get("grant")
    key_file = _get(grant, "key_file")
    if _get(grant, "type") != "google_service_account" or not isinstance(key_file, str):
        return
    if "${" in key_file or key_file.lstrip().startswith("{"):
        return  # a reference (checked with the others) or the key's JSON itself
    if not os.access(FilePath(key_file).expanduser(), os.R_OK):
        run.add(run.origin(name, ("grant", "key_file")), "warning",
                f"field grant.key_file: file {key_file} is not readable")  # fmt: skip


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
