"""Statements that put a token into a shell or a CI job: the formats behind ``oauthcli env``.

Values come from a token server and are untrusted: each format quotes them so that the consumer
reads back exactly the same string and can never execute any part of it (SPEC §3). Where a
format cannot carry a value safely, a ``ConfigError`` names the variable, never the value.
No environment variable can hold a NUL character, so a value with one is refused everywhere.

Formats, one statement per variable:

- ``sh``: ``export NAME='value'``; inside POSIX single quotes nothing is special, and a ``'``
  is written ``'\\''`` (close, escaped quote, reopen). Works for bash, dash and zsh.
- ``fish``: ``set -gx NAME 'value'``; in fish single quotes only ``\\\\`` and ``\\'`` are escapes.
- ``powershell``: ``$Env:NAME = 'value'``; ``'`` and its typographic variants are doubled. A
  line break is written as ``"`n"`` / ``"`r"`` joined with ``+``, so that every statement
  stays on one line even when the output is fed to ``Invoke-Expression`` line by line.
- ``cmd``: ``set "NAME=value"``; see ``_cmd_refusal`` for what cannot be carried and why.
- ``dotenv``: ``NAME='value'`` when the value has no ``'``, ``\\``, CR or LF: then every
  common parser (python-dotenv, node dotenv, docker compose, ruby dotenv) reads it literally
  (python-dotenv would unescape a backslash in single quotes, hence that rule).
  Otherwise ``NAME="value"`` with ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\$`` and ``\\```
  escapes: the grammar of ruby dotenv, godotenv and docker compose. Known divergences:
  python-dotenv keeps ``\\$`` and ``\\``` as two characters, node dotenv unescapes only
  ``\\n``/``\\r``. The double-quoted escapes are also POSIX ones, so sourcing the file in a
  shell never executes anything.
- ``gitlab``: ``NAME=value`` for a GitLab ``artifacts:reports:dotenv`` file; see
  ``_gitlab_refusal``.
- ``json``: one object ``{"NAME": "value", ...}`` on one line, ASCII only.
- ``github``: stdout gets only ``::add-mask::`` lines for the secret values; the variables
  themselves go into ``$GITHUB_ENV`` through ``append_github_env``. (With any other format
  under ``GITHUB_ACTIONS=true``, the caller prints ``mask_lines`` of the secrets first.)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from oauthcli.errors import ConfigError, UsageError
from oauthcli.export.shellnames import canonical_shell

SHELLS: tuple[str, ...] = ("sh", "fish", "powershell", "cmd", "dotenv", "github", "gitlab", "json")
DEFAULT_EXPORT: dict[str, str] = {
    "ACCESS_TOKEN": "access_token",
    "TOKEN_TYPE": "token_type",
    "ACCESS_TOKEN_EXPIRES_AT": "expires_at",
}

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_HINT = "a variable name has letters, digits and underscores, and does not start with a digit"
_DELIMITER_RE = re.compile(r"ghadelimiter_[A-Za-z0-9_]+")
_DELIMITER_ATTEMPTS = 100
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_POWERSHELL_QUOTES_RE = re.compile("(['\u2018\u2019\u201a\u201b])")
_DOTENV_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "$": "\\$", "`": "\\`"}


@dataclass(frozen=True)
class ExportVar:
    """One variable to export; ``secret`` values get masked in CI logs."""

    name: str
    value: str
    secret: bool


def check_name(name: str, *, profile: str | None = None) -> str:
    """Return ``name`` if every shell accepts it as a variable name, else raise ConfigError."""
    if isinstance(name, str) and _NAME_RE.fullmatch(name):
        return name
    where = f" in profile {profile!r}" if profile else ""
    raise ConfigError(f"invalid environment variable name {name!r}{where}", _NAME_HINT)


def prefixed(name: str, prefix: str | None, *, profile: str | None = None) -> str:
    """``prefix + name``, validated, so ``--prefix GH_`` turns ACCESS_TOKEN into GH_ACCESS_TOKEN."""
    if not prefix:
        return check_name(name, profile=profile)
    full = prefix + name
    if not _NAME_RE.fullmatch(full):
        where = f" in profile {profile!r}" if profile else ""
        raise ConfigError(
            f"invalid environment variable name {full!r}{where} (prefix {prefix!r} + {name!r})",
            _NAME_HINT,
        )
    return full


def render(variables: list[ExportVar], shell: str) -> str:
    """The whole text for stdout in ``shell``'s syntax; ends with a newline unless empty."""
    shell = canonical_shell(shell)
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}", f"choose one of: {', '.join(SHELLS)}")
    for variable in variables:
        check_value(variable)
    if not variables:
        return ""
    if shell == "github":
        return mask_lines(v.value for v in variables if v.secret)
    if shell == "json":
        return json.dumps({v.name: v.value for v in variables}, ensure_ascii=True) + "\n"
    statement = _STATEMENTS[shell]
    return "".join(statement(v) + "\n" for v in variables)


def check_value(variable: ExportVar) -> None:
    """Refuse what no format can carry: a bad name, or a NUL (C strings end there)."""
    check_name(variable.name)
    if "\0" in variable.value:
        raise ConfigError(
            f"the value of {variable.name} contains a NUL character,"
            " which no environment variable can hold"
        )


def _refuse(variable: ExportVar, shell: str, why: str, hint: str) -> ConfigError:
    """The error for a value ``shell`` cannot carry; it describes, never shows, the value."""
    return ConfigError(f"the value of {variable.name} cannot be exported for {shell}: {why}", hint)


def _sh(variable: ExportVar) -> str:
    quoted = "'" + variable.value.replace("'", "'\\''") + "'"
    return f"export {variable.name}={quoted}"


def _fish(variable: ExportVar) -> str:
    escaped = variable.value.replace("\\", "\\\\").replace("'", "\\'")
    return f"set -gx {variable.name} '{escaped}'"


def _powershell(variable: ExportVar) -> str:
    """Single-quoted pieces, with CR/LF spelled as double-quoted escapes between them."""
    pieces = [_powershell_piece(p) for p in re.split(r"(\r|\n)", variable.value) if p]
    expression = " + ".join(pieces) or "''"
    return f"$Env:{variable.name} = {expression}"


def _powershell_piece(text: str) -> str:
    if text == "\n":
        return '"`n"'
    if text == "\r":
        return '"`r"'
    # PowerShell reads any of the five quote characters as a single quote; doubling keeps one.
    return "'" + _POWERSHELL_QUOTES_RE.sub(r"\1\1", text) + "'"


def _cmd(variable: ExportVar) -> str:
    why = _cmd_refusal(variable.value)
    if why:
        raise _refuse(variable, "cmd", why, "use --shell powershell, or `oauthcli exec`")
    return f'set "{variable.name}={variable.value}"'


def _cmd_refusal(value: str) -> str | None:
    """Why cmd.exe cannot take ``value`` inside ``set "NAME=value"``, or None if it can.

    Inside the quotes ``^ & | < > ( )`` are plain text (cmd's special-character phase skips
    quoted text) and ``set`` ignores whatever follows the closing quote. What stays unsafe,
    per cmd's parsing phases (``cmd /?``, ``set /?``, and the well-known Stack Overflow
    analysis "How does the Windows Command Interpreter (CMD.EXE) parse scripts?"):

    - ``%`` expands before quotes are looked at; a batch file needs ``%%`` but a prompt or
      ``for /f ... do %i`` keeps ``%%`` as two characters, so no spelling is right for both.
    - ``!`` expands ``!VAR!`` inside quotes too under delayed expansion (``cmd /V:ON``,
      ``setlocal EnableDelayedExpansion``), which also eats carets on that line.
    - ``"`` closes the quoted argument, after which ``&`` or ``|`` would run commands.
    - CR, LF and other control characters: LF ends the command, CR is deleted, Ctrl-Z reads
      as LF; a statement must fit on one line.
    - non-ASCII: cmd reads a batch file in the console's OEM code page, not UTF-8, so the
      value would arrive altered (and a DBCS lead byte can swallow the next character).

    An empty value is allowed: ``set "NAME="`` removes the variable, cmd's closest to empty.
    """
    for char in value:
        if char in '%!"':
            return f"it contains {char!r}, which cmd expands or treats as a quote"
        if not " " <= char <= "~":
            return "it contains a control or non-ASCII character"
    return None


def _dotenv(variable: ExportVar) -> str:
    value = variable.value
    if not any(char in value for char in "'\\\r\n"):
        return f"{variable.name}='{value}'"
    escaped = "".join(_DOTENV_ESCAPES.get(char, char) for char in value)
    return f'{variable.name}="{escaped}"'


def _gitlab(variable: ExportVar) -> str:
    why = _gitlab_refusal(variable.value)
    if why:
        raise _refuse(variable, "gitlab", why, "pass the token with `oauthcli exec` in the job")
    return f"{variable.name}={variable.value}"


def _gitlab_refusal(value: str) -> str | None:
    """Why a GitLab dotenv report cannot carry ``value``, or None if it can.

    GitLab reads each line with ``/^(.*?)=(.*)$/`` and strips both sides
    (``app/services/ci/parse_dotenv_artifact_service.rb``): values are literal, quotes are
    kept, there are no escapes and no multi-line values, and the documentation
    (``doc/ci/yaml/artifacts_reports.md``, ``artifacts:reports:dotenv``) forbids spaces and
    newlines in values. The variables are stored with ``raw: false``, so the runner expands
    ``$NAME`` inside them in later jobs: a ``$`` would be rewritten.
    """
    for char in value:
        if char == "$":
            return "it contains '$', which GitLab would expand as a variable reference"
        if char.isspace() or unicodedata.category(char) == "Cc":
            return "it contains whitespace or a control character"
    return None


_STATEMENTS: dict[str, Callable[[ExportVar], str]] = {
    "sh": _sh,
    "fish": _fish,
    "powershell": _powershell,
    "cmd": _cmd,
    "dotenv": _dotenv,
    "gitlab": _gitlab,
}


def mask_lines(values: Iterable[str]) -> str:
    """``::add-mask::`` workflow commands hiding ``values`` in a GitHub Actions log.

    GitHub masks log lines one at a time, so a multi-line value is masked whole and line by
    line. Empty and blank values are skipped: the runner refuses them (and masking a space
    would blank every space in the log).
    """
    candidates: dict[str, None] = {}
    for value in values:
        for candidate in (value, *_LINE_BREAK_RE.split(value)):
            if candidate.strip():
                candidates.setdefault(candidate, None)
    return "".join(f"::add-mask::{_escape_command_data(c)}\n" for c in candidates)


def _escape_command_data(text: str) -> str:
    """Workflow-command data escaping, as in @actions/core: ``%`` first, then CR and LF."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_env_block(
    variables: list[ExportVar], token_factory: Callable[[int], str] = secrets.token_hex
) -> str:
    """Text to append to ``$GITHUB_ENV``: ``NAME<<DELIMITER``, the value, the delimiter.

    The runner ends a value at the first line equal to the delimiter, so each delimiter is
    random and redrawn until it does not occur anywhere in the value (a substring check also
    covers Windows runners, which split lines at CRLF).
    """
    blocks = []
    for variable in variables:
        check_value(variable)
        delimiter = _fresh_delimiter(variable, token_factory)
        blocks.append(f"{variable.name}<<{delimiter}\n{variable.value}\n{delimiter}\n")
    return "".join(blocks)


def _fresh_delimiter(variable: ExportVar, token_factory: Callable[[int], str]) -> str:
    for _ in range(_DELIMITER_ATTEMPTS):
        delimiter = f"ghadelimiter_{token_factory(16)}"
        if _DELIMITER_RE.fullmatch(delimiter) and delimiter not in variable.value:
            return delimiter
    raise ConfigError(f"could not choose a $GITHUB_ENV delimiter for {variable.name}")


def append_github_env(variables: list[ExportVar], path: str | os.PathLike[str]) -> None:
    """Append the variables to the ``$GITHUB_ENV`` file at ``path``, in one write.

    Bytes are written as they are (no newline translation, which would turn a value's LF into
    CRLF on Windows). If an earlier step left the file without a final newline, one is added
    first: otherwise our first line would be glued to its last one. The runner skips blank
    lines, so the extra newline is harmless.
    """
    block = github_env_block(variables).encode("utf-8")
    if not block:
        return
    with open(path, "a+b") as env_file:
        if _ends_without_newline(env_file):
            block = b"\n" + block
        env_file.write(block)


def _ends_without_newline(env_file: IO[bytes]) -> bool:
    size = env_file.seek(0, os.SEEK_END)
    if size == 0:
        return False
    env_file.seek(size - 1)
    return env_file.read(1) != b"\n"
