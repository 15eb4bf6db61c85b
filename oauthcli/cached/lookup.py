"""Find a fresh stored token as the full path would: profiles file, index, store, state.

Each step mirrors one of the full path (named in its docstring) and returns None at the first
doubt, so that the full path runs instead. Files are read as store.fsutil.read_bytes reads
them (no symlink, FIFO or device), directories trusted as store.fsutil.check_dir trusts them
(the user's own, mode 0700: anything else is the full path's to refuse or warn about).
"""

from __future__ import annotations

import os
import stat
import sys

from oauthcli.cached import index, jsonlite, refs, rules, shared

TYPE_CHECKING = False  # typing itself is not imported on the cached route
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

CACHE_FORMAT = 2  # config.load.CACHE_FORMAT: the key of the parsed copy and of the index
MAX_PROFILES_FILE = 1 << 20  # config.load.MAX_FILE
MAX_DOCUMENT = 1 << 20  # store.codec.MAX_DOCUMENT
MAX_INDEX = 4 << 20
STATE_VERSION = 1  # store.state.VERSION


def stored_token(
    line: Any, environ: Mapping[str, str], now: float
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(token, profile entry) when the stored token of ``line.profile`` is fresh, else None."""
    state_dir = _state_dir(line.state_dir, environ)
    if state_dir is None:
        return None
    found = _profile(line.config, line.profile, environ, state_dir)
    if found is None:
        return None
    header, entry = found
    name = grant_name(line.profile, entry, environ)
    store = store_id(line.store, header.get("store"), environ)
    if name is None or store is None or not safe_dir(state_dir):
        return None
    raw = _state_bytes(state_dir, name, store)
    token = _decoded(raw, name) if raw is not None else None
    if token is not None and _fresh(token, entry, line.min_valid, now):
        return token, entry
    if isinstance(store, shared.Address):  # the copy cannot answer: one read of the store
        doc = shared.fetch(store, name)
        token = _decoded(doc, name) if doc is not None else None
        if token is not None and _fresh(token, entry, line.min_valid, now):
            _keep(state_dir, store, name, doc)  # type: ignore[arg-type]
            return token, entry
    return None


def _keep(state_dir: str, store: shared.Address, name: str, doc: bytes) -> None:
    try:
        shared.keep_copy(state_dir, store, name, doc)
    except OSError:  # a cache: the next run asks the store again
        pass


# --- places (config.load.locate, store.file.default_dir, platformdirs) --------------------


def user_dir(variable: str, default: str, kind: str) -> str:
    """platformdirs' ``user_<kind>_dir("oauthcli")``: the XDG rule where it is the whole rule,
    else platformdirs itself."""
    value = os.environ.get(variable, "")
    home = os.environ.get("HOME", "")
    android = os.environ.get("ANDROID_DATA") == "/data"
    plain = sys.platform not in ("win32", "darwin") and not android
    if plain and value.startswith("/") and value == value.strip():
        return os.path.join(value, "oauthcli")
    if plain and not value and home.startswith("/"):
        return os.path.join(home.rstrip("/") + "/" + default, "oauthcli")
    import platformdirs

    found: str = getattr(platformdirs, f"user_{kind}_dir")("oauthcli")
    return found


def _state_dir(option: str | None, environ: Mapping[str, str]) -> str | None:
    chosen = option or environ.get("OAUTHCLI_STATE_DIR")
    if not chosen:
        return user_dir("XDG_STATE_HOME", ".local/state", "state")
    expanded = os.path.expanduser(chosen)
    return None if expanded.startswith("~") else expanded


def _config_path(option: str | None, environ: Mapping[str, str]) -> tuple[str, bool] | None:
    """(path, found implicitly in the current directory); None for stdin."""
    chosen = option or environ.get("OAUTHCLI_CONFIG")
    if chosen:
        return None if chosen == "-" else (chosen, False)
    local = os.path.join(os.getcwd(), "oauthcli.yaml")
    if os.path.lexists(local):
        return local, True
    return os.path.join(user_dir("XDG_CONFIG_HOME", ".config", "config"), "profiles.yaml"), False


# --- safe reads (store.fsutil) ------------------------------------------------------------


def read_file(path: str, limit: int) -> bytes | None:
    """A regular file's content, or None (absent, a symlink, not regular, over ``limit``)."""
    data = index.read_head(path, limit + 1)
    return data if data is not None and len(data) <= limit else None


def safe_dir(directory: str) -> bool:
    """A real directory of this user that nobody else may read or write."""
    try:
        info = os.lstat(directory)
    except OSError:
        return False
    owner = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    return stat.S_ISDIR(info.st_mode) and owner and not info.st_mode & 0o077


# --- the profile (config.load.load, config.trust) -----------------------------------------


def _profile(option: str | None, profile: str, environ: Mapping[str, str],
             state_dir: str) -> tuple[dict[str, Any], dict[str, Any]] | None:  # fmt: skip
    located = _config_path(option, environ)
    if located is None or not rules.profile_name(profile):
        return None
    file = os.path.expanduser(located[0])
    try:
        info = os.stat(file)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PROFILES_FILE:
        return None
    if located[1] and not _trusted(file, info):
        return None
    key = [CACHE_FORMAT, os.path.realpath(file), info.st_dev, info.st_ino, info.st_size,
           info.st_mtime_ns, info.st_ctime_ns]  # fmt: skip
    data = read_file(os.path.join(state_dir, index.NAME), MAX_INDEX)
    return index.find(data, key, profile) if data else None


def _trusted(file: str, info: os.stat_result) -> bool:
    """config.trust.TrustStore.unchanged: trusted, with the stat it had when it was hashed."""
    directory = user_dir("XDG_STATE_HOME", ".local/state", "state")
    raw = read_file(os.path.join(directory, ".trusted.json"), 1 << 20)
    if not raw or not safe_dir(directory):
        return False
    records = jsonlite.loads(raw).get("files")
    key = os.path.join(os.path.realpath(os.path.dirname(file)), os.path.basename(file))
    record = records.get(key) if isinstance(records, dict) else None
    wanted = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    return isinstance(record, dict) and record.get("stat") == wanted


# --- the grant and its store (grants.identity.state_name, store.store_setting) ------------


def grant_name(profile: str, entry: dict[str, Any], environ: Mapping[str, str]) -> str | None:
    prefix, value, _where = entry["endpoint"]
    endpoint = refs.identity_part(value, environ)
    client = refs.identity_part(entry["client"], environ)
    if endpoint is None or client is None:
        return None
    if prefix == "issuer ":
        endpoint = endpoint.rstrip("/")
    return f"{profile}@{rules.digest(prefix + endpoint + chr(10) + client)}"


def store_id(
    option: str | None, configured: Any, environ: Mapping[str, str]
) -> str | shared.Address | None:
    """``file``, or the address of a Redis store; None for an encrypted or another store."""
    url = option or environ.get("OAUTHCLI_STORE")
    if url and environ.get("OAUTHCLI_STORE_KEY") is not None:
        configured = None
    raw_key = None
    if isinstance(configured, dict):
        raw_key, configured = configured.get("key"), configured.get("url")
    url = url or configured or "file"
    if not isinstance(url, str) or not isinstance(raw_key, (str, type(None))):
        return None
    key = (
        environ.get("OAUTHCLI_STORE_KEY") if raw_key is None else refs.substitute(raw_key, environ)
    )
    resolved = refs.substitute(url, environ)
    if key or (raw_key is not None and key is None) or resolved is None:
        return None
    scheme = resolved.split(":", 1)[0].lower()
    if scheme == "file":
        return "file"
    return shared.address(resolved) if scheme in ("redis", "rediss") else None


# --- the state (store.file.FileStore.read, store.local.LocalState.get_copy, store.codec) --


def _state_bytes(state_dir: str, name: str, store: str | shared.Address) -> bytes | None:
    if not isinstance(store, shared.Address):
        return read_file(os.path.join(state_dir, f"{rules.file_stem(name)}.json"), MAX_DOCUMENT)
    raw = read_file(shared.copy_path(state_dir, store, name), MAX_DOCUMENT * 2)
    wrapper = jsonlite.loads(raw) if raw else None
    if not isinstance(wrapper, dict) or wrapper.get("store") != store.store_id:
        return None
    doc = wrapper.get("state")
    return doc.encode("utf-8") if isinstance(doc, str) else None


def _decoded(raw: bytes, name: str) -> dict[str, Any] | None:
    """The token of a plain state document stored under ``name`` (store.state.State)."""
    data = jsonlite.loads(raw) if len(raw) <= MAX_DOCUMENT else None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or "sealed" in data:
        return None
    generation = data.get("generation", 0)
    strings = (data.get("rotated_refresh_token"), data.get("refresh_token_fingerprint"))
    token = data.get("token")
    if data.get("name", name) != name or not _count(generation) or not isinstance(token, dict):
        return None
    if not all(isinstance(s, (str, type(None))) for s in strings):
        return None
    return token if _usable(token) else None


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _usable(token: dict[str, Any]) -> bool:
    """The fields the answer reads have the types the full path gives them."""
    texts = (token.get("token_type"), token.get("scope"), token.get("id_token"))
    expires_at = token.get("expires_at")
    return (isinstance(token.get("access_token"), str) and bool(token["access_token"])
            and all(isinstance(t, (str, type(None))) for t in texts)
            and (expires_at is None or _number(expires_at))
            and _number(token.get("obtained_at", 0.0))
            and isinstance(token.get("response", {}), dict))  # fmt: skip


def _fresh(token: dict[str, Any], entry: dict[str, Any], min_valid: float | None,
           now: float) -> bool:  # fmt: skip
    wanted = entry.get("min_valid") if min_valid is None else min_valid
    assume_ttl = entry.get("assume_ttl")
    obtained_at = token.get("obtained_at", 0.0)
    if not isinstance(wanted, (int, float)) or not isinstance(assume_ttl, (int, float)):
        return False
    return rules.is_fresh(token.get("expires_at"), obtained_at, wanted, assume_ttl, now)
