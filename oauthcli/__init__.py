"""oauthcli: turn a refresh token (or any token-endpoint grant) into a fresh access token.

The Python API: ``get_token(profile)``, ``BearerAuth(profile)`` (requests and httpx) and the
errors, each with the CLI's ``exit_code``. They load on first use, so that ``import oauthcli``
(and the CLI, which imports this package) stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False  # not typing's: the cached `token` path never imports typing (SPEC §8)
if TYPE_CHECKING:
    from typing import Any

    from oauthcli.api import BearerAuth, get_token
    from oauthcli.errors import (
        BadResponseError,
        ConfigError,
        ExitCode,
        InvalidTokenError,
        OAuthCliError,
        ProviderError,
        StateError,
        TransientError,
        UsageError,
    )

__all__ = [
    "BadResponseError", "BearerAuth", "ConfigError", "ExitCode", "InvalidTokenError",
    "OAuthCliError", "ProviderError", "StateError", "TransientError", "UsageError",
    "__version__", "get_token",
]  # fmt: skip
_ERRORS = frozenset(__all__) - {"BearerAuth", "get_token", "__version__"}


def __getattr__(name: str) -> Any:
    if name in ("get_token", "BearerAuth"):
        from oauthcli import api

        return getattr(api, name)
    if name in _ERRORS:
        from oauthcli import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'oauthcli' has no attribute {name!r}")
