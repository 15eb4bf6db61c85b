"""Leaving secrets out of a document before it is copied anywhere (a local copy, a cache).

A leaf module that imports nothing (not even typing: the cached route imports it), so the
cached route and the store share one implementation.
"""

from __future__ import annotations


def scrub(value: object, secrets: set[str]) -> object:
    """``value`` with every string that is one of ``secrets`` left out, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items() if not _secret(v, secrets)}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value if not _secret(v, secrets)]
    return value


def _secret(value: object, secrets: set[str]) -> bool:
    return isinstance(value, str) and value in secrets
