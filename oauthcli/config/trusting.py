"""`oauthcli trust PATH`: read a profiles file (bounded), check that it parses, record it.

Apart from config.trust (the records) because it reads the file as config.load does, and
config.load consults the records: keeping the two apart keeps their imports acyclic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oauthcli.config import load
from oauthcli.config.trust import TrustStore, key_of
from oauthcli.errors import ConfigError


@dataclass(frozen=True)
class Trusted:
    path: str  # the record's key: the absolute path
    sha256: str
    profiles: int
    commands: tuple[str, ...]  # the ${cmd:} commands the file can run, for review


def trust_file(path: str, store: TrustStore, now: float) -> Trusted:
    """Read ``path`` (bounded), check that it parses, and record its content as trusted."""
    from oauthcli.config.files import NotRegular, decode, read_regular

    file = Path(path).expanduser()
    try:
        data, info = read_regular(file, load.MAX_FILE)
        text = decode(data)
    except FileNotFoundError:
        raise ConfigError(f"profiles file not found: {path}") from None
    except NotRegular as exc:
        raise ConfigError(f"profiles file {path} {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"profiles file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc.strerror or exc}") from None
    config = load.config_from(load.parse_yaml(text, path), path)  # refuse what cannot be used
    sha = store.trust(path, data, info, now)
    return Trusted(key_of(path), sha, len(config.names), tuple(_commands(text)))


def _commands(text: str) -> list[str]:
    import re

    found = re.findall(r"\$\{cmd:([^{}]*)\}", text)
    return list(dict.fromkeys(command.strip() for command in found))
