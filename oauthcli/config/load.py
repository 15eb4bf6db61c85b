"""Locating and reading the profiles file, bounded and with a safe loader only, into a Config.

The file must be a regular file of at most 1 MiB (a FIFO or device is refused before it is
opened); its YAML is composed by config.document (duplicate keys refused, aliases and nesting
bounded). A ``./oauthcli.yaml`` found implicitly is used only once trusted (config.trust). The
parsed copy in the local cache is keyed by the file's stat and written only after the whole
file parsed and passed the top-level checks; a file with a literal secret is never copied.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol

from oauthcli.config.files import MIB, NotRegular, check_regular, decode, read_regular, read_stream
from oauthcli.config.model import PROFILE_NAME, Config
from oauthcli.config.schema import close_match_hint
from oauthcli.errors import ConfigError

if TYPE_CHECKING:
    from oauthcli.config.document import Lines
    from oauthcli.config.trust import TrustStore
    from oauthcli.redact import Secrets

MAX_FILE = MIB
CACHE_FORMAT = 2  # bumped when what is checked before caching changes: older copies miss
LOCAL_NAME = "oauthcli.yaml"
TOP_KEYS = ("defaults", "profiles", "store")


def locate(option: str | None, environ: Mapping[str, str], cwd: Path) -> str:
    """The profiles file to read: -c, $OAUTHCLI_CONFIG, ./oauthcli.yaml, user config dir."""
    if option:
        return option
    if environ.get("OAUTHCLI_CONFIG"):
        return environ["OAUTHCLI_CONFIG"]
    local = cwd / LOCAL_NAME
    if os.path.lexists(local):  # whatever it is: a FIFO there is refused, not skipped
        return str(local)
    from platformdirs import user_config_dir

    return str(Path(user_config_dir("oauthcli")) / "profiles.yaml")


class ParsedCache(Protocol):
    """Keeps the parsed file between runs, so the cached `token` path need not import yaml."""

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None: ...

    def put(self, key: tuple[Any, ...], data: dict[str, Any]) -> None: ...


class Source(NamedTuple):  # NamedTuples, not dataclasses: this module is on the cached path
    path: str  # as located ("-" for stdin)
    implicit: bool  # ./oauthcli.yaml found in the current directory: needs trust


def find(option: str | None, environ: Mapping[str, str], cwd: Path | None = None) -> Source:
    cwd = cwd or Path.cwd()
    path = locate(option, environ, cwd)
    explicit = bool(option or environ.get("OAUTHCLI_CONFIG"))
    return Source(path, not explicit and path == str(cwd / LOCAL_NAME))


def load(
    option: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: IO[str] | None = None,
    cache: ParsedCache | None = None,
    secrets: Secrets | None = None,
    trust: TrustStore | None = None,
) -> Config:
    """The profiles file as a Config; every literal secret in it is registered in ``secrets``."""
    environ = os.environ if environ is None else environ
    source = find(option, environ, cwd)
    if source.path == "-":
        text = _stdin_text(stdin)
        return config_from(_parsed(text, "<stdin>", secrets)[0], "<stdin>")
    file = Path(source.path).expanduser()
    trusted = _trust_store(source, trust)
    info = _stat(file, source.path)
    if cache is not None and (trusted is None or trusted.unchanged(source.path, info)):
        cached = cache.get(cache_key(file, info))
        if cached is not None:  # never holds a literal secret: nothing to register
            return config_from(cached, source.path)
    data, opened = _read(file, source.path, trusted)
    document = _parsed(data, source.path, secrets)[0]
    config = config_from(document, source.path)
    if cache is not None:
        cache.put(cache_key(file, opened), document)  # keyed by what was read: a later edit misses
    return config


class Checked(NamedTuple):
    """What `check` lints: a Config that tolerates top-level problems, which it reports."""

    config: Config
    document: dict[str, Any]
    lines: Lines


def load_for_check(
    option: str | None,
    environ: Mapping[str, str],
    stdin: IO[str] | None = None,
    secrets: Secrets | None = None,
    trust: TrustStore | None = None,
) -> Checked:
    """The profiles file with the line of every key; never from the cache, never a command run."""
    source = find(option, environ)
    if source.path == "-":
        text, where = _stdin_text(stdin), "<stdin>"
    else:
        file = Path(source.path).expanduser()
        _stat(file, source.path)
        text, where = _read(file, source.path, _trust_store(source, trust))[0], source.path
    document, lines = _parsed(text, where, secrets, lines=True)
    return Checked(config_from(document, where, strict=False), document, lines or {})


def cache_key(file: Path, info: os.stat_result) -> tuple[Any, ...]:
    return (CACHE_FORMAT, str(file.resolve()), info.st_dev, info.st_ino, info.st_size,
            info.st_mtime_ns, info.st_ctime_ns)  # fmt: skip


def _trust_store(source: Source, trust: TrustStore | None) -> TrustStore | None:
    if not source.implicit:
        return None
    from oauthcli.config.trust import TrustStore

    return trust or TrustStore()


def _stat(file: Path, shown: str) -> os.stat_result:
    try:
        info = os.stat(file)
        check_regular(info, MAX_FILE)
    except FileNotFoundError:
        raise ConfigError(
            f"profiles file not found: {shown}",
            hint="pass -c PATH, set OAUTHCLI_CONFIG, or create one: oauthcli init PROVIDER",
        ) from None
    except NotRegular as exc:
        raise _not_regular(shown, exc) from None
    except OSError as exc:
        raise ConfigError(f"cannot read profiles file {shown}: {exc.strerror or exc}") from None
    return info


def _not_regular(shown: str, exc: NotRegular) -> ConfigError:
    pipe = "FIFO" in str(exc) or "character device" in str(exc)
    hint = "to read the profiles file from a pipe, pass -c - and feed it on stdin" if pipe else None
    return ConfigError(f"profiles file {shown} {exc}", hint=hint)


def _read(file: Path, shown: str, trust: TrustStore | None) -> tuple[str, os.stat_result]:
    """The file's text and fstat; for an implicit file, only if it is the trusted content."""
    try:
        data, opened = read_regular(file, MAX_FILE)
    except FileNotFoundError:
        raise ConfigError(f"profiles file not found: {shown}") from None
    except NotRegular as exc:
        raise _not_regular(shown, exc) from None
    except OSError as exc:
        raise ConfigError(f"cannot read profiles file {shown}: {exc.strerror or exc}") from None
    if trust is not None:
        trust.require(shown, data, opened)
    try:
        return decode(data), opened
    except UnicodeDecodeError as exc:
        raise ConfigError(f"profiles file {shown} is not UTF-8 text (byte {exc.start})") from None


def _stdin_text(stdin: IO[str] | None) -> str:
    try:
        return read_stream(stdin or sys.stdin, MAX_FILE)
    except NotRegular as exc:
        raise ConfigError(f"profiles file on standard input {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the profiles file from standard input: {exc}") from None


def _parsed(
    text: str, source: str, secrets: Secrets | None, lines: bool = False
) -> tuple[dict[str, Any], Lines | None]:
    from oauthcli.config.document import parse_document

    data, found = parse_document(text, source, lines)
    document = _top(data, source)
    _string_keys(document, source)
    if secrets is not None:
        from oauthcli.config.literal import literal_secrets

        secrets.add_all(literal_secrets(document))
    return document, found


def parse(text: str, source: str) -> Config:
    return config_from(parse_yaml(text, source), source)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A YAML mapping, bounded and with duplicate keys refused (config.document)."""
    from oauthcli.config.document import parse_document

    return _top(parse_document(text, source)[0], source)


def _top(data: Any, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping with a 'profiles' key")
    return data


def _string_keys(document: dict[str, Any], source: str) -> None:
    """Every key is a string: YAML reads `on:`, `yes:` or `1:` as a boolean or a number."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict) and not isinstance(key, str):
                kind = type(key).__name__
                raise ConfigError(f"{source}: key {key!r} {where and f'in {where} '}is not a "
                                  f"string (YAML read it as {kind})",
                                  hint='quote the key, as in "on": …')  # fmt: skip
            if isinstance(item, (dict, list)):
                stack.append((f"{where}.{key}".lstrip("."), item))


def config_from(data: dict[str, Any], source: str, strict: bool = True) -> Config:
    """The Config of a parsed file; ``strict=False`` (for `check`) leaves the problems of
    ``top_level_problems`` to be reported rather than raised."""
    profiles = data.get("profiles") or {}
    defaults = data.get("defaults") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{source}: 'profiles' must be a mapping of name → profile")
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: 'defaults' must be a mapping")
    if not strict:
        try:
            store = _store_setting(data.get("store"), source)
        except ConfigError:
            store = None
        return Config(source=source, defaults=defaults, raw_profiles=profiles, store=store)
    for problem in top_level_problems(data, source):
        raise problem
    return Config(source=source, defaults=defaults, raw_profiles=profiles,
                  store=_store_setting(data.get("store"), source))  # fmt: skip


def top_level_problems(data: dict[str, Any], source: str) -> list[ConfigError]:
    """Unknown top-level keys and invalid profile names, each with its hint."""
    problems = [
        ConfigError(f"{source}: unknown top-level key {key!r}",
                    hint=close_match_hint(key, list(TOP_KEYS)) or "profiles go under 'profiles:'")
        for key in sorted(map(str, set(data) - set(TOP_KEYS)))
    ]  # fmt: skip
    profiles = data.get("profiles") or {}
    for name in profiles if isinstance(profiles, dict) else ():
        if not isinstance(name, str) or not PROFILE_NAME.match(name):
            problems.append(ConfigError(
                f"{source}: invalid profile name {name!r} "
                "(use A-Z a-z 0-9 _ . -, not starting with a dot)"
            ))  # fmt: skip
    return problems


def _store_setting(store: Any, source: str) -> Any:
    """``store:`` is a URL, or ``{url, key}`` (SPEC §10); the store module resolves both."""
    if store is None or isinstance(store, str):
        return store
    if not isinstance(store, dict):
        raise ConfigError(f"{source}: 'store' must be a URL or a mapping with url and key")
    unknown = set(store) - {"url", "key"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise ConfigError(f"{source}: store: unknown key {key!r}",
                          hint=close_match_hint(key, ["url", "key"]))  # fmt: skip
    if not all(isinstance(store.get(k, ""), str) for k in ("url", "key")):
        raise ConfigError(f"{source}: store: url and key must be strings")
    return dict(store)
