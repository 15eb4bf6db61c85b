"""From tokens to exported variables (`env`, `exec`): names, prefixes, which values are secret."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from oauthcli.config.model import Profile
from oauthcli.errors import ConfigError, ExitCode, UsageError
from oauthcli.export.shells import DEFAULT_EXPORT, ExportVar, check_value, prefixed
from oauthcli.token import Token
from oauthcli.worldtype import World

# Normalized fields that are not secrets; everything else exported is treated as one.
PUBLIC_FIELDS = frozenset(
    {"token_type", "expires_at", "expires_in", "expires_at_epoch", "scope", "profile"}
)


def prefix_for(profile: str, prefixes: Sequence[str]) -> str:
    """``--prefix P`` for all, ``--prefix NAME=P`` for one profile; ``{PROFILE}`` expands."""
    chosen = ""
    for item in prefixes:
        name, sep, value = item.partition("=")
        if not sep:
            chosen = chosen or item
        elif name == profile:
            return _expand(value, profile)
    return _expand(chosen, profile)


def _expand(prefix: str, profile: str) -> str:
    return prefix.replace("{PROFILE}", re.sub(r"[^A-Za-z0-9]", "_", profile).upper())


def plan(rt: World, names: Sequence[str], prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """Each profile with its prefix; every variable name checked before any request is sent."""
    for item in prefixes:
        target, sep, _ = item.partition("=")
        if sep and target not in names:
            raise UsageError(f"--prefix {item!r} names {target!r}, which is not being exported")
    chosen = [(name, prefix_for(name, prefixes)) for name in names]
    merge([(name, _names(rt.profile(name), prefix)) for name, prefix in chosen])
    return chosen


def _names(profile: Profile, prefix: str) -> list[ExportVar]:
    mapping: Mapping[str, str] = profile.export or DEFAULT_EXPORT
    return [ExportVar(prefixed(n, prefix, profile=profile.name), "", False) for n in mapping]


def variables(profile: Profile, token: Token, prefix: str = "") -> list[ExportVar]:
    mapping: Mapping[str, str] = profile.export or DEFAULT_EXPORT
    out = []
    for name, field in mapping.items():
        full = prefixed(name, prefix, profile=profile.name)
        text = _text(token.field(field))
        out.append(ExportVar(full, text, secret=field not in PUBLIC_FIELDS))
    return out


def _text(value: object) -> str:
    """Strings as they are; JSON scalars and structures in JSON spelling (true, not True)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def merge(groups: Sequence[tuple[str, list[ExportVar]]]) -> list[ExportVar]:
    """All profiles' variables; the same name from two profiles is an error."""
    seen: dict[str, str] = {}
    merged: list[ExportVar] = []
    for profile, group in groups:
        for var in group:
            if var.name in seen:
                raise ConfigError(
                    f"profiles {seen[var.name]!r} and {profile!r} both export {var.name}",
                    hint="separate them with --prefix '{PROFILE}_' or --prefix NAME=PREFIX",
                )
            seen[var.name] = profile
            merged.append(var)
    return merged


def exec_command(
    argv: Sequence[str], extra: Sequence[ExportVar], environ: Mapping[str, str]
) -> None:
    """Replace this process with COMMAND: its signals, stdout and exit status are its own."""
    import os
    import signal

    for var in extra:
        check_value(var)
    env = dict(environ)
    env.update({var.name: var.value for var in extra})
    # Python ignores SIGPIPE and SIGXFSZ; COMMAND must start with the defaults (`… | head`).
    signals = [getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n)]
    saved = [signal.signal(number, signal.SIG_DFL) for number in signals]
    try:
        os.execvpe(argv[0], list(argv), env)
    except OSError as exc:
        for number, handler in zip(signals, saved, strict=True):
            signal.signal(number, handler)
        error = CommandNotFound if isinstance(exc, FileNotFoundError) else CommandNotExecutable
        raise error(f"cannot run {argv[0]!r}: {exc.strerror}") from None


class CommandNotFound(ConfigError):
    """COMMAND of `exec` does not exist (exit 127, as shells do; POSIX 2.8.2)."""

    exit_code = ExitCode.COMMAND_NOT_FOUND


class CommandNotExecutable(ConfigError):
    """COMMAND of `exec` exists but cannot be executed (exit 126, as shells do)."""

    exit_code = ExitCode.CANNOT_EXECUTE
