"""Locating and reading the profiles file (safe loader only) into a Config."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from oauthcli.config.model import PROFILE_NAME, Config
from oauthcli.config.schema import close_match_hint
from oauthcli.errors import ConfigError


def locate(option: str | None, environ: Mapping[str, str], cwd: Path) -> str:
    """The profiles file to read: -c, $OAUTHCLI_CONFIG, ./oauthcli.yaml, user config dir."""
    if option:
        return option
    if environ.get("OAUTHCLI_CONFIG"):
        return environ["OAUTHCLI_CONFIG"]
    local = cwd / "oauthcli.yaml"
    if local.is_file():
        return str(local)
    from platformdirs import user_config_dir

    return str(Path(user_config_dir("oauthcli")) / "profiles.yaml")


class ParsedCache(Protocol):
    """Keeps the parsed file between runs, so the cached `token` path need not import yaml."""

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None: ...

    def put(self, key: tuple[Any, ...], data: dict[str, Any]) -> None: ...


def load(
    option: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[str] | None = None,
    cache: ParsedCache | None = None,
) -> Config:
    environ = os.environ if environ is None else environ
    path = locate(option, environ, cwd or Path.cwd())
    if path == "-":
        return config_from(parse_yaml((stdin or sys.stdin).read(), "<stdin>"), "<stdin>")
    file = Path(path).expanduser()
    try:
        info = file.stat()
        key = (str(file.resolve()), info.st_mtime_ns, info.st_size, info.st_ino)
        cached = cache.get(key) if cache else None
        if cached is not None:
            return config_from(cached, path)
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"profiles file not found: {path}",
            hint="pass -c PATH, set OAUTHCLI_CONFIG, or start from profiles.example.yaml",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc}") from None
    data = parse_yaml(text, path)
    if cache:
        cache.put(key, data)  # keyed by the stat taken before reading: a later edit misses
    return config_from(data, path)


def parse(text: str, source: str) -> Config:
    return config_from(parse_yaml(text, source), source)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {type(exc).__name__}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping with a 'profiles' key")
    return data


def config_from(data: dict[str, Any], source: str) -> Config:
    unknown = set(data) - {"defaults", "profiles"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"{source}: unknown top-level key {key!r}",
            hint=close_match_hint(key, ["defaults", "profiles"]) or "profiles go under 'profiles:'",
        )
    profiles = data.get("profiles") or {}
    defaults = data.get("defaults") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{source}: 'profiles' must be a mapping of name → profile")
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: 'defaults' must be a mapping")
    for name in profiles:
        if not isinstance(name, str) or not PROFILE_NAME.match(name):
            raise ConfigError(
                f"{source}: invalid profile name {name!r} "
                "(use A-Z a-z 0-9 _ . -, not starting with a dot)"
            )
    return Config(source=source, defaults=defaults, raw_profiles=profiles)
