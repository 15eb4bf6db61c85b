"""`oauthcli show PROFILE`: the resolved profile, secrets redacted."""

from __future__ import annotations

import re
from typing import Any

from oauthcli.config.refs import REFERENCE, Resolver
from oauthcli.errors import ConfigError
from oauthcli.redact import is_secret_key, mask
from oauthcli.worldtype import World


def show(world: World, profile: str) -> None:
    """Print the profile as it will be used (defaults and extends merged), secrets redacted."""
    import yaml

    rt = world
    rt.profile(profile)  # validates
    merged = rt.config.merged(profile)
    resolver = rt.resolver(rt.profile(profile), "${refresh_token}")
    shown = {"profile": profile, **_resolve(merged, resolver, "")}
    world.output.out(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))


def _resolve(value: Any, resolver: Resolver, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _leaf(k, v, resolver, f"{where}.{k}".lstrip(".")) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, resolver, where) for v in value]
    return value


def _leaf(key: str, value: Any, resolver: Resolver, where: str) -> Any:
    if not isinstance(value, str):
        return _resolve(value, resolver, where)
    references = " ".join(m.group(0) for m in REFERENCE.finditer(value))
    try:
        resolved = resolver.resolve(value, where)
    except ConfigError as exc:
        return f"{references or value}  (unresolved: {exc.message.rsplit(': ', 1)[-1]})"
    if is_secret_key(key):  # a secret is never shown, whether literal, default or referenced
        shown = mask(resolved) if resolved else resolved
        hidden = re.sub(r":-[^}]*\}", ":-…}", references)
        return f"{shown}  (from {hidden})" if references else shown
    if not references or resolved == value or "${refresh_token}" in resolved:
        return resolver.secrets.redact_text(value)  # a literal secret (URL query, proxy, …)
    return f"{resolver.secrets.redact_text(resolved)}  (from {references})"
