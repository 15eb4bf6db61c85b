"""The error hierarchy: every failure the tool reports, each with its exit code (SPEC §4).

Core modules raise these; ``cli.main`` is the one place that turns them into a line on stderr
and a process exit code.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    INVALID = 1  # validate: token not valid; check: problems found
    USAGE = 2
    CONFIG = 3
    REFUSED = 4  # the provider said no (4xx or an OAuth error body)
    TRANSIENT = 5  # worth retrying later
    BAD_RESPONSE = 6  # the provider answered something unusable
    INTERNAL = 70  # a bug: no input, file or server answer may cause it (EX_SOFTWARE)
    CANNOT_EXECUTE = 126  # exec: COMMAND found but not executable (as POSIX shells)
    COMMAND_NOT_FOUND = 127  # exec: COMMAND not found
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class OAuthCliError(Exception):
    """Base class: a one-line message and an optional one-line hint."""

    exit_code: ExitCode = ExitCode.CONFIG

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (refresh's worker processes send failures to their parent): the
        default would rebuild it by calling ``__init__`` with the message alone."""
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(kind: type[OAuthCliError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = kind.__new__(kind, *args)
    error.__dict__.update(state)
    return error


class UsageError(OAuthCliError):
    exit_code = ExitCode.USAGE


class ConfigError(OAuthCliError):
    """File missing, YAML syntax, schema, unresolved reference, unknown profile."""

    exit_code = ExitCode.CONFIG


class ProviderError(OAuthCliError):
    """The token endpoint refused: HTTP 4xx or an OAuth ``error`` in the body."""

    exit_code = ExitCode.REFUSED

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        error: str | None = None,
        error_description: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.error = error
        self.error_description = error_description
        self.status = status


class TransientError(OAuthCliError):
    """DNS, connect, TLS, timeout, 429/5xx after retries, lock wait timed out."""

    exit_code = ExitCode.TRANSIENT


class BadResponseError(OAuthCliError):
    """A 2xx without a token, an unparseable or oversized body, a redirect."""

    exit_code = ExitCode.BAD_RESPONSE


class InvalidTokenError(OAuthCliError):
    """``validate`` found the token not valid; ``check`` found problems."""

    exit_code = ExitCode.INVALID


class StateError(OAuthCliError):
    """The state store cannot be used (unsafe path, permissions)."""

    exit_code = ExitCode.CONFIG
