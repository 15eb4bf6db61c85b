"""The profile schema: every key, its expected type, and the checks with close-match hints."""

from __future__ import annotations

from typing import Any

from oauthcli.errors import ConfigError

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_STR_MAP = "mapping of strings"


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in value.items()
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


# key → (description of the expected type, check)
SCHEMA: dict[str, tuple[str, Any]] = {
    "description": ("string", lambda v: isinstance(v, str)),
    "token_url": ("string", lambda v: isinstance(v, str) and v.strip() != ""),
    "method": ("HTTP method", lambda v: isinstance(v, str) and v.upper() in HTTP_METHODS),
    "headers": (_STR_MAP, _is_str_map),
    "params": (_STR_MAP, _is_str_map),
    "body": ("mapping or string", lambda v: isinstance(v, (dict, str))),
    "body_format": ("'form' or 'json'", lambda v: v in ("form", "json")),
    "refresh_token": ("string", lambda v: isinstance(v, str)),
    "auth": ("mapping", lambda v: isinstance(v, dict)),
    "response": (_STR_MAP, _is_str_map),
    "export": (_STR_MAP, _is_str_map),
    "min_valid": ("number of seconds", _is_number),
    "assume_ttl": ("number of seconds", _is_number),
    "lock_timeout": ("number of seconds", _is_number),
    "validate": ("mapping", lambda v: isinstance(v, dict)),
    "revocation_url": ("string", lambda v: isinstance(v, str)),
    "issuer": ("string", lambda v: isinstance(v, str)),
    "timeout": ("positive number of seconds", lambda v: _is_number(v) and v > 0),
    "retries": ("integer 0-10", lambda v: isinstance(v, int) and 0 <= v <= 10),
    "verify": ("true, false or a CA bundle path", lambda v: isinstance(v, (bool, str))),
    "cert": (
        "path or [cert, key]",
        lambda v: (
            isinstance(v, str)
            or (isinstance(v, list) and len(v) == 2 and all(isinstance(p, str) for p in v))
        ),
    ),
    "proxy": ("string", lambda v: isinstance(v, str)),
    "insecure": ("boolean", lambda v: isinstance(v, bool)),
    "extends": ("profile name", lambda v: isinstance(v, str)),
    "scope": ("string", lambda v: isinstance(v, str)),
    "refresh_scope": ("boolean", lambda v: isinstance(v, bool)),
    "grant": ("mapping with type", lambda v: isinstance(v, dict)),
    "login": ("mapping", lambda v: isinstance(v, dict)),
    "git": ("mapping", lambda v: isinstance(v, dict)),
}
AUTH_KEYS = {"type", "client_id", "client_secret", "key", "alg", "kid", "audience", "assertion"}
# auth.type → the keys it requires (wire.clientauth implements each)
AUTH_TYPES: dict[str, tuple[str, ...]] = {
    "basic": ("client_id", "client_secret"),
    "post": ("client_id", "client_secret"),
    "none": ("client_id",),
    "private_key_jwt": ("client_id", "key"),
    "client_assertion": ("client_id", "assertion"),
}
# grant.type → its keys (grants/ implements each)
GRANT_KEYS: dict[str, set[str]] = {
    "refresh_token": {"type"},
    "client_credentials": {"type", "scope"},
    "jwt_bearer": {"type", "key", "alg", "kid", "iss", "sub", "aud", "scope", "claims"},
    "google_service_account": {"type", "key_file", "scope", "subject"},
    "token_exchange": {"type", "subject_token", "subject_token_type", "actor_token",
                       "actor_token_type", "audience", "resource", "requested_token_type",
                       "scope"},  # fmt: skip
}
# grant.type → the keys it cannot do without (token_url/issuer are checked by the model)
GRANT_REQUIRED: dict[str, tuple[str, ...]] = {
    "jwt_bearer": ("key", "iss"),
    "google_service_account": ("key_file",),
    "token_exchange": ("subject_token", "subject_token_type"),
}
# what wire.assertion signs with (RFC 7518; EdDSA per RFC 8037)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512", "EdDSA")  # fmt: skip
LOGIN_KEYS = {"flow", "authorization_url", "device_authorization_url", "redirect_uri", "params",
              "device_params"}  # fmt: skip
GIT_KEYS = {"username"}


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


VALIDATE_TYPES: dict[str, tuple[str, Any]] = {
    "introspection_url": ("string", _is_str),
    "jwks_url": ("string", _is_str),
    "issuer": ("string", _is_str),
    "audience": (
        "string or list of strings",
        lambda v: isinstance(v, str) or (isinstance(v, list) and all(map(_is_str, v))),
    ),
    "leeway": ("number of seconds", _is_number),
    "probe": ("mapping with url", lambda v: isinstance(v, dict) and _is_str(v.get("url"))),
}
PROBE_TYPES: dict[str, tuple[str, Any]] = {
    "url": ("string", _is_str),
    "method": ("HTTP method", lambda v: _is_str(v) and v.upper() in HTTP_METHODS),
    "expect_status": ("HTTP status", lambda v: isinstance(v, int) and 100 <= v <= 599),
    "headers": (_STR_MAP, _is_str_map),
}
_STRINGS = (
    "string or list of strings",
    lambda v: isinstance(v, str) or (isinstance(v, list) and all(map(_is_str, v))),
)
_ALG = (
    " or ".join(SIGNING_ALGORITHMS),
    lambda v: isinstance(v, str) and (v in SIGNING_ALGORITHMS or "${" in v),
)
AUTH_TYPES_OF: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(AUTH_KEYS, ("string", _is_str)),
    "alg": _ALG,
}
GRANT_TYPES_OF: dict[str, tuple[str, Any]] = {
    **{key: ("string", _is_str) for keys in GRANT_KEYS.values() for key in keys},
    "alg": _ALG,
    "claims": ("mapping", lambda v: isinstance(v, dict)),
    "audience": _STRINGS,
    "resource": _STRINGS,
}
VALIDATE_KEYS = set(VALIDATE_TYPES)
PROBE_KEYS = set(PROBE_TYPES)
RESPONSE_FIELDS = {
    "access_token", "token_type", "expires_in", "expires_at", "refresh_token", "scope",
    "id_token", "error", "error_description",
}  # fmt: skip


def check_key(source: str, profile: str, key: str, value: Any) -> None:
    if key not in SCHEMA:
        raise ConfigError(
            f"{source}: profile {profile!r}: unknown key {key!r}",
            hint=close_match_hint(key, [k for k in SCHEMA if k != "extends"]),
        )
    expected, check = SCHEMA[key]
    if not check(value):
        raise schema_error(source, profile, key, expected, value)
    nested = {"auth": AUTH_KEYS, "validate": VALIDATE_KEYS, "login": LOGIN_KEYS, "git": GIT_KEYS}
    if key == "grant":
        check_grant(source, profile, value)
    if key in nested:
        check_nested(source, profile, key, value, nested[key])
    if key == "response":
        for field_name in value:
            if field_name not in RESPONSE_FIELDS:
                raise ConfigError(
                    f"{source}: profile {profile!r}: unknown response field {field_name!r}",
                    hint=close_match_hint(field_name, sorted(RESPONSE_FIELDS)),
                )


def check_nested(
    source: str, profile: str, key: str, value: dict[str, Any], keys: set[str]
) -> None:
    for sub in value:
        if sub not in keys:
            raise ConfigError(
                f"{source}: profile {profile!r}: unknown key {key}.{sub}",
                hint=close_match_hint(sub, sorted(keys)),
            )
    if key == "auth":
        check_auth(source, profile, value)
    types = {
        "validate": VALIDATE_TYPES,
        "validate.probe": PROBE_TYPES,
        "auth": AUTH_TYPES_OF,
        "grant": GRANT_TYPES_OF,
    }.get(key, {})
    for sub, item in value.items():
        expected, check = types.get(sub, ("", None))
        if check is not None and not check(item):
            raise schema_error(source, profile, f"{key}.{sub}", expected, item)
    if key == "validate" and "probe" in value:
        check_nested(source, profile, "validate.probe", value["probe"], PROBE_KEYS)


def check_auth(source: str, profile: str, value: dict[str, Any]) -> None:
    kind = value.get("type", "basic")
    if kind not in AUTH_TYPES:
        expected = " or ".join(repr(t) for t in AUTH_TYPES)
        raise schema_error(source, profile, "auth.type", expected, kind)
    for sub in AUTH_TYPES[kind]:
        if not isinstance(value.get(sub), str):
            raise schema_error(source, profile, f"auth.{sub}", "string", value.get(sub))


def check_grant(source: str, profile: str, value: dict[str, Any]) -> None:
    kind = value.get("type")
    if kind not in GRANT_KEYS:
        expected = " or ".join(repr(t) for t in GRANT_KEYS)
        raise schema_error(source, profile, "grant.type", expected, kind)
    check_nested(source, profile, "grant", value, GRANT_KEYS[kind])
    for sub in GRANT_REQUIRED.get(kind, ()):
        if sub not in value:
            raise ConfigError(f"{source}: profile {profile!r}: grant.{sub} is required "
                              f"for grant type {kind}")  # fmt: skip
    if "actor_token_type" in value and "actor_token" not in value:
        raise ConfigError(f"{source}: profile {profile!r}: grant.actor_token_type without "
                          "grant.actor_token")  # fmt: skip


def schema_error(source: str, profile: str, key: str, expected: str, value: Any) -> ConfigError:
    got = type(value).__name__ if not isinstance(value, str) else repr(value)
    if value is None:
        got = "nothing"  # a required key that is missing
    if isinstance(value, str) and len(value) > 40:
        got = "a string"
    return ConfigError(
        f"{source}: profile {profile!r}, field {key}: expected {expected}, got {got}"
    )


def close_match_hint(word: str, choices: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {matches[0]!r}?" if matches else None
