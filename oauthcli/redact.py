"""The one place that knows what a secret is, and how it is shown.

Every value that came from a reference, and every value of a secret-named field, is registered
here as it is resolved or received; ``redact_text`` replaces each registered value in any string
before it reaches stderr, ``--verbose``, ``--dry-run``, ``show`` or a traceback.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_KEYS = frozenset(
    {
        "client_secret",
        "refresh_token",
        "access_token",
        "id_token",
        "authorization",
        "cookie",
        "password",
        "client_assertion",
        "assertion",
        "code",
        "code_verifier",
        "device_code",
        "token",
        "proxy-authorization",
        "set-cookie",
        "x-api-key",
        "api_key",
    }
)
MASK = "****"
_MIN_LEN = 4  # shorter values are too common to replace everywhere in a text
_TAIL_MIN_LEN = 12  # only long secrets show their last 4 characters


def mask(value: str) -> str:
    """``****`` plus at most the last 4 characters (none for short values)."""
    if len(value) >= _TAIL_MIN_LEN:
        return MASK + value[-4:]
    return MASK


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(("_secret", "_token", "password"))


class Secrets:
    """A registry of secret values seen in this run."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: object) -> None:
        if not isinstance(value, str) or len(value) < _MIN_LEN:
            return
        with self._lock:
            variants = {value, value.strip()}
            for variant in variants:
                if len(variant) >= _MIN_LEN and variant not in self._values:
                    self._values.add(variant)
                    self._pattern = None

    def add_all(self, values: Iterable[object]) -> None:
        for value in values:
            self.add(value)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def values(self) -> frozenset[str]:
        """Every registered value (a worker process sends them to the parent that prints)."""
        with self._lock:
            return frozenset(self._values)

    def redact_text(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(lambda m: mask(m.group(0)), text)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so a secret containing another is replaced whole; also cover
                # the percent-encoded form that appears in URLs and form bodies.
                forms = set(self._values)
                forms.update(_quote(v) for v in self._values)
                ordered = sorted(forms, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


def _quote(value: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(value, errors="surrogatepass")  # a lone surrogate from a server too


def redact_url(url: str) -> str:
    """The URL with any userinfo password masked (for display)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    return url.replace(f":{password}@", f":{MASK}@", 1)


def redact_mapping(data: Mapping[str, Any], secrets: Secrets) -> dict[str, Any]:
    """A copy with secret-named keys masked and registered secrets replaced, recursively."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if is_secret_key(str(key)) and isinstance(value, str) and value:
            out[key] = mask(value)
        else:
            out[key] = redact_value(value, secrets)
    return out


def redact_value(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, Mapping):
        return redact_mapping(value, secrets)
    if isinstance(value, list):
        return [redact_value(v, secrets) for v in value]
    if isinstance(value, str):
        return secrets.redact_text(value)
    return value


def register_fields(data: Any, secrets: Secrets) -> None:
    """Register the values of secret-named fields, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key(str(key)) and isinstance(value, str):
                secrets.add(value)
            else:
                register_fields(value, secrets)
    elif isinstance(data, list):
        for item in data:
            register_fields(item, secrets)
