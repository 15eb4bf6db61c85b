"""Secrets written literally in a profiles file (SPEC §13 "Literal secrets are secrets too").

A reference's value is registered as a secret when it is resolved; a secret typed into the file
is not resolved, so it is found here instead: the value of a secret-named field
(``client_secret: abc``, ``auth.key``, ``store.key``), the default of a reference in one
(``${env:S:-abc}``), a secret-looking parameter in a URL's query, in a form-encoded or JSON
``body`` string, in ``params``, ``body`` or ``headers``, and the userinfo of any URL (a token
endpoint, a proxy, the store). ``load`` registers them for redaction in every output, and the
parsed-profiles cache refuses a file that has any.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from oauthcli.redact import is_secret_key

_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
# Parameter and header names that carry credentials (`key=`, `X-Api-Key`, `sig=`, …), but not
# the names that describe one (`token_type_hint`, `client_assertion_type`, `code_challenge_method`):
# their values (`refresh_token`, `urn:…:jwt-bearer`) are words that must stay readable.
_SECRET_PARTS = ("secret", "password", "passwd", "apikey", "api_key", "api-key", "signature",
                 "credential", "cookie", "assertion")  # fmt: skip
_SECRET_NAMES = {"key", "auth", "sig", "pwd", "pass", "sas", "session", "code"}
_SECRET_ENDINGS = ("key", "token", "sig")
_DESCRIBING = ("type", "hint", "method", "id", "url", "uri")
_PARAM_FIELDS = {"body", "params", "headers"}  # their keys are wire parameter/header names
_NAME_FIELDS = {"response", "export"}  # map names to names: nothing secret in them
_KEY_FIELDS = {"key", "private_key"}  # auth.key, grant.key, store.key: key material


def secret_param(name: str) -> bool:
    lowered = name.lower()
    words = lowered.replace("-", "_").split("_")
    if len(words) > 1 and words[-1] in _DESCRIBING:
        return False
    return (
        is_secret_key(name) or lowered in _SECRET_NAMES or lowered.endswith(_SECRET_ENDINGS)
        or any(part in lowered for part in _SECRET_PARTS)
    )  # fmt: skip


def literal_secrets(document: Any) -> list[str]:
    """Every literal secret in a parsed profiles file (duplicates possible, short ones too)."""
    if not isinstance(document, dict):
        return []
    found: list[str] = []
    mappings = [document.get("defaults")]
    profiles = document.get("profiles")
    if isinstance(profiles, dict):
        mappings += list(profiles.values())
    for mapping in mappings:
        if isinstance(mapping, dict):
            found += _fields(mapping, top=True)
    found += _store(document.get("store"))
    return found


def has_literal_secret(document: Any) -> bool:
    return bool(literal_secrets(document))


def _store(store: Any) -> list[str]:
    if isinstance(store, str):
        return list(url_secrets(store))
    if isinstance(store, dict):
        found = list(url_secrets(store["url"])) if isinstance(store.get("url"), str) else []
        return found + list(_value(store.get("key"), secret=True))
    return []


def _fields(mapping: dict[Any, Any], top: bool = False, params: bool = False) -> list[str]:
    found: list[str] = []
    for key, value in mapping.items():
        name = str(key)
        if top and name in _NAME_FIELDS:
            continue
        secret = (secret_param(name) if params else is_secret_key(name)) or name in _KEY_FIELDS
        if isinstance(value, dict):
            found += _fields(value, params=params or name in _PARAM_FIELDS)
        elif isinstance(value, list):
            for item in value:
                found += _fields(item) if isinstance(item, dict) else list(_value(item, secret))
        elif top and name == "body" and isinstance(value, str):
            found += list(body_secrets(value))
        else:
            found += list(_value(value, secret))
    return found


def _value(value: Any, secret: bool) -> Iterator[str]:
    """The literal secret(s) in one scalar: all of it, a reference's default, URL parts."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and secret:
        yield str(value)
    if not isinstance(value, str) or not value:
        return
    references = list(_REFERENCE.finditer(value))
    if secret and not references:
        yield value
    if secret:
        for match in references:
            kind_and_name, dash, default = match.group(1).partition(":-")
            if dash and default and not kind_and_name.startswith(("file:", "cmd:")):
                yield default
    if "://" in value:
        yield from url_secrets(value)


def url_secrets(url: str) -> Iterator[str]:
    """The literal userinfo and secret-looking query values of a URL."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        username, password = parts.username, parts.password
    except ValueError:
        return
    if password and "${" not in password:
        yield from _both(password)
    elif username and "${" not in username and not password and "@" in parts.netloc:
        yield from _both(username)  # https://TOKEN@host: the token is the whole userinfo
    yield from _query(parts.query)


def body_secrets(body: str) -> Iterator[str]:
    """Secret-looking fields of a body string: form-encoded, or a JSON object."""
    text = body.strip()
    if text.startswith("{"):
        import json

        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        if isinstance(document, dict):
            yield from _fields(document, params=True)
            return
    yield from _query(text)


def _query(query: str) -> Iterator[str]:
    from urllib.parse import unquote_plus

    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and "${" not in value and secret_param(unquote_plus(name)):
            yield from _both(value)


def _both(value: str) -> Iterator[str]:
    """A value as written and percent-decoded (URLs and bodies carry the encoded form)."""
    from urllib.parse import unquote_plus

    yield value
    decoded = unquote_plus(value)
    if decoded != value:
        yield decoded
