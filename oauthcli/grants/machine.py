"""What the machine grants (jwt_bearer, google_service_account, token_exchange) share: reading
``grant.*`` settings through references, and the form body they send.

The body is handed to build_request already encoded, so a resolved value (a token, a key's
claims) is never read as a reference a second time; client authentication is added there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from oauthcli.config.refs import Resolver
from oauthcli.errors import ConfigError


def setting(
    grant: Mapping[str, Any], key: str, resolver: Resolver, *, required: bool = False
) -> str | None:
    """``grant.<key>`` with its references resolved; None (or an error when required) if unset."""
    value = grant.get(key)
    resolved = resolver.resolve(value, f"grant.{key}").strip() if isinstance(value, str) else ""
    if resolved:
        return resolved
    if required:
        state = "is empty" if isinstance(value, str) else "is required"
        raise ConfigError(f"profile {resolver.profile!r}: grant.{key} {state}")
    return None


def settings(grant: Mapping[str, Any], key: str, resolver: Resolver) -> list[str]:
    """A setting that may be given several times (RFC 8693 ``audience``, ``resource``)."""
    value = grant.get(key)
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    resolved = (resolver.resolve(str(item), f"grant.{key}").strip() for item in items)
    return [item for item in resolved if item]


def resolved_tree(value: Any, resolver: Resolver, where: str) -> Any:
    """Extra claims: references resolved in every string, at any depth."""
    if isinstance(value, Mapping):
        return {str(k): resolved_tree(v, resolver, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolved_tree(v, resolver, where) for v in value]
    return resolver.resolve(value, where) if isinstance(value, str) else value


def scope(grant: Mapping[str, Any], resolver: Resolver, profile_scope: str | None) -> str | None:
    """``grant.scope``, else the profile's ``scope``."""
    found = setting(grant, "scope", resolver)
    if found is None and profile_scope:
        found = resolver.resolve(profile_scope, "scope").strip() or None
    return found


def form_body(pairs: Iterable[tuple[str, str | None]]) -> str:
    """The form-encoded body; pairs whose value is None are left out. Encoded values contain no
    ``$``, so build_request's reference pass leaves them as they are."""
    return urlencode([(k, v) for k, v in pairs if v is not None])
