"""From tokens to exported variables (`env`, `exec`): names, prefixes, which values are secret."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from oauthcli.errors import ConfigError
from oauthcli.export import DEFAULT_EXPORT, ExportVar, check_name
from oauthcli.profiles import Profile
from oauthcli.token import Token

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


def variables(profile: Profile, token: Token, prefix: str = "") -> list[ExportVar]:
    mapping: Mapping[str, str] = profile.export or DEFAULT_EXPORT
    out = []
    for name, field in mapping.items():
        full = check_name(prefix + name, profile=profile.name)
        value = token.field(field)
        text = "" if value is None else str(value)
        out.append(ExportVar(full, text, secret=field not in PUBLIC_FIELDS))
    return out


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

    env = dict(environ)
    env.update({var.name: var.value for var in extra})
    try:
        os.execvpe(argv[0], list(argv), env)
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]!r}: {exc.strerror}") from None


class CommandError(ConfigError):
    """COMMAND of `exec` could not be started (exit 127, as shells do)."""

    exit_code = 127  # type: ignore[assignment]
