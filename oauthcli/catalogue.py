"""The provider catalogue that ships inside the package (``catalogue.yaml``): `oauthcli init`.

One source for both `init` and ``profiles.example.yaml`` (tools/gen_example.py generates the
example file from it), so the two cannot drift. Each entry is a profile as it goes into a
profiles file, plus a description, the documentation it was checked against, and notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from oauthcli.errors import ConfigError


@dataclass(frozen=True)
class Provider:
    name: str
    description: str
    docs: tuple[str, ...]
    notes: tuple[str, ...]
    profile: dict[str, Any]


def providers() -> dict[str, Provider]:
    """Every provider of the catalogue, in its order."""
    from oauthcli.config.load import parse_yaml

    text = files("oauthcli").joinpath("catalogue.yaml").read_text(encoding="utf-8")
    data = parse_yaml(text, "oauthcli/catalogue.yaml")
    entries = data.get("providers")
    if not isinstance(entries, dict):
        raise ConfigError("the built-in catalogue has no providers (a broken installation)")
    return {name: _provider(name, entry) for name, entry in entries.items()}


def _provider(name: str, entry: Any) -> Provider:
    if not isinstance(entry, dict) or not isinstance(entry.get("profile"), dict):
        raise ConfigError(f"the built-in catalogue's entry {name!r} has no profile")
    return Provider(
        name=str(name),
        description=str(entry.get("description", "")),
        docs=tuple(str(d) for d in entry.get("docs") or ()),
        notes=tuple(str(n) for n in entry.get("notes") or ()),
        profile=entry["profile"],
    )


# --- adding a provider's profile to a profiles file (`oauthcli init PROVIDER`) ----------------

_PROFILES_LINE = re.compile(r"profiles:[ \t]*(#.*)?\r?\n?")
_EMPTY_FLOW = re.compile(r"^profiles:[ \t]*\{[ \t]*\}[ \t]*(#.*)?$", re.M)
_ENV_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}")
NEW_FILE_HEADER = "# oauthcli profiles: `oauthcli init` adds providers, `oauthcli check` lints.\n"


def wanted(name: str, catalogue: dict[str, Provider], present: set[str]) -> list[Provider]:
    """The provider and what it extends (base first), minus the profiles already present."""
    chain: list[Provider] = []
    while name in catalogue and name not in present and all(p.name != name for p in chain):
        chain.insert(0, catalogue[name])
        base = catalogue[name].profile.get("extends")
        name = base if isinstance(base, str) else ""
    return chain


def block(provider: Provider, indent: str) -> str:
    """The profile as YAML under ``profiles:``, with its description, notes and docs above it."""
    import yaml

    lines = _wrapped(provider.description, f"{indent}# ", f"{indent}# ")
    for note in provider.notes:
        lines += _wrapped(note, f"{indent}# - ", f"{indent}#   ")
    if provider.docs:
        lines += [f"{indent}# Checked against:", *(f"{indent}#   {url}" for url in provider.docs)]
    body = yaml.safe_dump({provider.name: provider.profile}, sort_keys=False,
                          default_flow_style=False, allow_unicode=True, width=4096)  # fmt: skip
    lines += [indent + line if line else line for line in body.rstrip("\n").split("\n")]
    return "\n" + "\n".join(lines) + "\n"


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    import textwrap

    lines = textwrap.wrap(text, width=79, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)  # fmt: skip
    return lines or [first.rstrip()]


def insert(text: str, chain: list[Provider], source: str) -> str:
    """``text`` with the profiles appended to its ``profiles:`` mapping, everything else kept."""
    text = _EMPTY_FLOW.sub("profiles:", text, count=1)
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _PROFILES_LINE.fullmatch(line)), None)
    if start is None:
        if re.search(r"^profiles\s*:", text, re.M):
            raise ConfigError(f"{source}: 'profiles:' is not a block mapping oauthcli can add to",
                              hint="add the profile by hand")  # fmt: skip
        head = text + ("\n" if text and not text.endswith("\n") else "")
        return head + "profiles:\n" + "".join(block(p, "  ") for p in chain)
    end = _block_end(lines, start)
    indent = _child_indent(lines[start + 1 : end]) or "  "
    before = "".join(lines[:end])
    before += "" if before.endswith("\n") else "\n"
    return before + "".join(block(p, indent) for p in chain) + "".join(lines[end:])


def _block_end(lines: list[str], start: int) -> int:
    """Where the ``profiles:`` mapping ends: before the next top-level key and its comments."""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i][:1] not in ("", " ", "\t", "#", "\n", "\r"):
            end = i
            break
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return end


def _child_indent(lines: list[str]) -> str | None:
    for line in lines:
        stripped = line.lstrip(" \t")
        if stripped.strip() and not stripped.startswith("#"):
            return line[: len(line) - len(stripped)]
    return None


def environment_variables(provider: Provider) -> list[str]:
    """The ``${env:NAME}`` variables (without a default) the profile needs."""
    import json

    found = _ENV_REFERENCE.findall(json.dumps(provider.profile))
    return [n for n in dict.fromkeys(found) if n != "refresh_token"]


def add(path: Path, name: str, catalogue: dict[str, Provider]) -> list[str]:
    """Add provider ``name`` (and what it extends) to the profiles file; the names added.

    A profile already in the file is never touched. The result is parsed back and compared
    before anything is written, so a file this cannot edit safely is left as it was.
    """
    from oauthcli.config.load import parse_yaml

    source = str(path)
    exists = path.exists()
    text = _read(path) if exists else NEW_FILE_HEADER
    before = parse_yaml(text, source)
    profiles = before.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{source}: 'profiles' must be a mapping of name → profile")
    chain = wanted(name, catalogue, set(profiles))
    if not chain:
        return []
    after_text = insert(text, chain, source)
    expected = {**before, "profiles": {**profiles, **{p.name: p.profile for p in chain}}}
    if parse_yaml(after_text, source) != expected:
        raise ConfigError(f"{source}: cannot add {name!r} to this file without changing others",
                          hint=f"write it to a new file (oauthcli -c new.yaml init {name}) "
                               "and copy it over")  # fmt: skip
    _write(path, after_text, exists)
    return [p.name for p in chain]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profiles file {path}: {exc}") from None


def _write(path: Path, text: str, exists: bool) -> None:
    """A new file is created 0600 (its parent 0700); an existing one is replaced atomically,
    keeping its mode, so a crash leaves the old or the new file."""
    import os

    data = text.encode("utf-8")
    try:
        if not exists:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fsync(handle.fileno())
            return
        target = path.resolve()  # a symlinked profiles file (dotfiles) stays a symlink
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, target.stat().st_mode & 0o777)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write profiles file {path}: {exc.strerror or exc}") from None
