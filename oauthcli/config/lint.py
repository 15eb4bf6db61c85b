"""`check`: lint a profiles file without sending anything or running ${cmd:} commands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oauthcli.config.model import Config
from oauthcli.config.refs import parse_reference, problems
from oauthcli.errors import ConfigError

URL_FIELDS = ("token_url", "revocation_url", "issuer")


@dataclass(frozen=True)
class Finding:
    profile: str
    level: str  # error or warning
    message: str


def lint(config: Config, environ: Mapping[str, str], strict: bool = False) -> list[Finding]:
    findings: list[Finding] = []
    for name in config.names:
        try:
            config.profile(name)
            merged = config.merged(name)
        except ConfigError as exc:
            findings.append(Finding(name, "error", exc.message))
            continue
        findings += _references(name, merged, environ, strict)
        findings += _insecure(name, merged)
        findings += _rotation(name, merged)
        findings += _machine_identity(name, merged)
    return findings


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, where)
    elif isinstance(value, str):
        yield where, value


def _references(
    name: str, merged: dict[str, Any], environ: Mapping[str, str], strict: bool
) -> list[Finding]:
    import re

    found = []
    for where, text in _strings(merged, ""):
        for match in re.finditer(r"\$\$|\$\{([^{}]*)\}", text):
            if match.group(1) is None:
                continue
            try:
                ref = parse_reference(match.group(1))
            except ValueError as exc:
                found.append(Finding(name, "error", f"field {where}: {exc}"))
                continue
            reason = problems(ref, environ)
            if reason:
                level = "error" if strict else "warning"
                found.append(Finding(name, level, f"field {where}: {reason}"))
    return found


def _insecure(name: str, merged: dict[str, Any]) -> list[Finding]:
    from oauthcli.wire.request import is_loopback

    found = []
    if merged.get("verify") is False:
        found.append(Finding(name, "warning", "verify: false disables TLS certificate checks"))
    for key in URL_FIELDS:
        url = merged.get(key)
        if isinstance(url, str) and url.startswith("http://"):
            host = urlsplit(url).hostname
            if is_loopback(host):
                continue
            level = "warning" if merged.get("insecure") else "error"
            found.append(Finding(name, level, f"{key} uses plain http:// to {host}"))
    return found


def _rotation(name: str, merged: dict[str, Any]) -> list[Finding]:
    body = merged.get("body")
    text = str(body)
    if merged.get("refresh_token") and "${refresh_token}" not in text:
        return [
            Finding(
                name,
                "warning",
                "refresh_token is set but the body never uses ${refresh_token}, "
                "so rotated refresh tokens would be ignored",
            )
        ]
    return []


def _machine_identity(name: str, merged: dict[str, Any]) -> list[Finding]:
    """Keys written into the file, and a service-account key file that cannot be read (found
    without reading it, and without fetching any ${github_oidc:} token)."""
    import os
    from pathlib import Path

    found = []
    auth, grant = merged.get("auth"), merged.get("grant")
    for where, value in (("auth.key", _get(auth, "key")), ("grant.key", _get(grant, "key"))):
        if isinstance(value, str) and "PRIVATE KEY" in value and "${" not in value:
            found.append(Finding(name, "warning", f"field {where}: a private key is written into "
                                 "the profiles file; use ${file:…} or ${cmd:…}"))  # fmt: skip
    key_file = _get(grant, "key_file")
    if _get(grant, "type") == "google_service_account" and isinstance(key_file, str):
        literal = "${" not in key_file and not key_file.lstrip().startswith("{")
        if literal and not os.access(Path(key_file).expanduser(), os.R_OK):
            found.append(
                Finding(name, "warning", f"field grant.key_file: file {key_file} is not readable")
            )
    return found


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
