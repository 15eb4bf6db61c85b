"""The cached route's rules agree with their twins in the full path (oauthcli/cached/*.py name
each twin): references, grant identity, state file names, freshness, Redis store ids, the
default directories, the command lines, and the constants both read."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oauthcli.cached import lookup, refs, route, rules
from oauthcli.config.model import Profile
from oauthcli.world import World

ENV = {"A": "a-value", "B": "", "C_1": "x$y"}
PIECES = ["$", "$$", "${", "}", "{", ":", ":-", "env", "env:", "A", "B", "C_1", "Z", "x", "/",
          "cmd:", "file:", "refresh_token", "github_oidc:", "${env:A}", "${A}", "${env:Z:-d}"]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_identity_parts_resolve_as_the_grant_identity_does(value: str) -> None:
    from oauthcli.grants.identity import _cheap

    ours = refs.identity_part(value, ENV)
    if ours is not None:  # None: a ${file:}, left to the full path
        world = World(environ=dict(ENV))
        assert ours == _cheap(world, Profile("p", token_url="x"), value, "token_url")


@settings(max_examples=400, deadline=None)
@given(texts)
def test_substitution_is_the_resolvers_where_it_answers(value: str) -> None:
    from oauthcli.config.refs import Resolver
    from oauthcli.errors import ConfigError

    ours = refs.substitute(value, ENV)
    try:
        theirs: str | None = Resolver("p", ENV).resolve(value, "store.url")
    except ConfigError:
        theirs = None
    if "${cmd:" not in value and "${file:" not in value and "${github_oidc:" not in value:
        assert ours == theirs
    elif ours is not None:
        assert ours == theirs


@pytest.mark.parametrize(
    "profile",
    [Profile("p", token_url="https://id.example.com/token", body={"client_id": "cid"}),
     Profile("p", token_url="https://${env:A}.example.com", auth={"client_id": "${env:Z:-z}"}),
     Profile("p", issuer="https://id.example.com/", body="client_id=x"),
     Profile("p", issuer="https://${cmd:echo x}/", auth={"client_id": 12345}),
     Profile("svc", grant={"type": "google_service_account", "key_file": "sa.json"}),
     Profile("j", token_url="u", grant={"type": "jwt_bearer", "iss": "me", "key": "k"}),
     Profile("x" * 90, token_url="u")],
)  # fmt: skip
def test_grant_names_and_state_files_are_the_stores(profile: Profile) -> None:
    from oauthcli.cached.index import raw_identity
    from oauthcli.grants.identity import state_name
    from oauthcli.store.keys import file_stem

    endpoint, client = raw_identity(profile)
    entry = {"endpoint": endpoint, "client": client}
    name = lookup.grant_name(profile.name, entry, ENV)
    assert name == state_name(World(environ=dict(ENV)), profile)
    assert name is not None and rules.file_stem(name) == file_stem(name)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab@._-/:é"), max_size=120))
def test_file_stems(name: str) -> None:
    from oauthcli.store.keys import file_stem

    assert rules.file_stem(name) == file_stem(name)


numbers = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(numbers, numbers, numbers, st.none() | numbers, st.none() | numbers)
def test_freshness_is_the_drivers(obtained: float, life: float, now_after: float,
                                  min_valid: float | None, profile_min: float | None) -> None:  # fmt: skip
    from oauthcli.grants.driver import is_fresh
    from oauthcli.store.state import State
    from oauthcli.token import Token

    expires_at = None if life > 9e5 else obtained + life
    profile = Profile("p", token_url="u", min_valid=profile_min or 60, assume_ttl=1800)
    state = State(Token("at", expires_at=expires_at, obtained_at=obtained))
    wanted = profile.min_valid if min_valid is None else min_valid
    ours = rules.is_fresh(expires_at, obtained, wanted, 1800, obtained + now_after)
    assert ours == is_fresh(state, profile, obtained + now_after, min_valid)


REDIS_URLS = [
    "redis://127.0.0.1", "redis://:p%40ss%3Aw%2Frd%23%25%3F%26%20%2B@127.0.0.1:6380/3",
    "REDISS://User:pw@Redis.Example.COM:6380/0?prefix=ci&lease=2&timeout=1",
    "redis://h:0/", "redis://h//7", "redis://h?ssl_ca_certs=/ca.pem&prefix=a.b-c_d",
    "redis://h:99999", "redis://h:12x", "redis://:6379", "redis://h/x", "redis://h?nope=1",
    "redis://h?prefix=", "redis://h?prefix=a:b", "redis://h?lease=0", "redis://h?lease=nan",
    "redis://h?prefix", "redis://[::1]:6379", "redis://h#frag", "redis://h?prefix=a%2Eb",
    "rediss://a@b@host:1/2?&&prefix=x&", "redis://u%C3%A9:p%zz%4@h/1", "redis://:@h",
    "redis://user@h", "rediss://h?ssl_certfile=/c.pem&ssl_keyfile=/k.pem&timeout=0.5",
]  # fmt: skip


@pytest.mark.parametrize("url", REDIS_URLS)
def test_redis_store_ids_are_the_stores(url: str) -> None:
    from oauthcli.cached import shared
    from oauthcli.errors import ConfigError
    from oauthcli.store.redisurl import parse

    fields = ("store_id", "tls", "host", "port", "db", "username", "password", "prefix",
              "timeout", "ca_certs", "certfile", "keyfile")  # fmt: skip
    try:
        address = parse(url)
        theirs: tuple[Any, ...] | None = tuple(getattr(address, f) for f in fields)
    except (ConfigError, ValueError):
        theirs = None
    found = shared.address(url)
    ours = None if found is None else tuple(getattr(found, f) for f in fields)
    assert ours is None or ours == theirs, url
    if "[" not in url and "#" not in url and "%2E" not in url:
        assert ours == theirs, url  # only brackets, fragments and escapes are left to parse()


@pytest.mark.parametrize(
    "environ",
    [{}, {"XDG_STATE_HOME": "/x/state", "XDG_CONFIG_HOME": "/x/config/"},
     {"XDG_STATE_HOME": "relative", "XDG_CONFIG_HOME": " /padded"}, {"HOME": "/"},
     {"HOME": "/home/u/"}, {"HOME": "relative"}],
)  # fmt: skip
def test_default_directories_are_platformdirs(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert lookup.user_dir("XDG_STATE_HOME", ".local/state", "state") == (
        platformdirs.user_state_dir("oauthcli")
    )
    assert lookup.user_dir("XDG_CONFIG_HOME", ".config", "config") == (
        platformdirs.user_config_dir("oauthcli")
    )


words = st.sampled_from(["token", "env", "git-credential", "refresh", "p", "q", "get", "erase",
                         "-c", "--config", "--config=f", "-c=f", "f", "-", "--state-dir", "d",
                         "--store", "-q", "--quiet", "--no-color", "-v", "-f", "--format",
                         "--format=json", "json", "header", "table", "exec-credential",
                         "--min-valid", "30", "-1", "inf", "--force", "--", "-s", "bash",
                         "--shell=fish", "--prefix", "--help"])  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(words, max_size=7))
def test_the_lines_it_answers_are_read_as_entry_reads_them(argv: list[str]) -> None:
    from oauthcli.entry import parse

    line = route.match(argv)
    if line is None or line.command == "env":  # env: the Typer app's (tests/test_perf_cached_route)
        return
    parsed = parse(argv)
    assert parsed is not None, argv
    options: dict[str, Any] = dict(parsed.options)
    assert (parsed.command, parsed.profiles, options.pop("action", None)) == (
        line.command, [line.profile], line.action)  # fmt: skip
    mine = {"fmt": line.fmt, "min_valid": line.min_valid, "config": line.config,
            "state_dir": line.state_dir, "store": line.store}  # fmt: skip
    assert {k: v for k, v in options.items() if k not in ("quiet", "no_color")} == {
        k: v for k, v in mine.items() if v is not None}  # fmt: skip


def test_git_request_reading_is_read_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    from oauthcli.errors import UsageError
    from oauthcli.export.git import read_request

    for text in ["", "\n", "a=b\n\nrest", "a=b\r\n\r\n", "bad\n", "=x\n", "a=\0\n", "a=b",
                 "a=" + "x" * 70000 + "\n"]:  # fmt: skip
        stream = io.StringIO(text)
        consumed, valid = route.read_git_request(stream)
        try:
            read_request(io.StringIO(consumed))
            theirs = True
        except UsageError:
            theirs = False
        assert valid == theirs and text.startswith(consumed), text[:20]


def test_shared_constants() -> None:
    from oauthcli.cached import index
    from oauthcli.config import cache, load
    from oauthcli.export import git, shells, variables
    from oauthcli.render import _HEADER_SAFE
    from oauthcli.store import codec, fsutil, state

    assert cache.INDEX == index.NAME and route._HEADER_TOKEN == _HEADER_SAFE
    assert rules.DEFAULT_EXPORT == shells.DEFAULT_EXPORT
    assert rules.DEFAULT_USERNAME == git.DEFAULT_USERNAME
    assert rules.PUBLIC_FIELDS == variables.PUBLIC_FIELDS
    assert route.GIT_MAX_INPUT == git.MAX_INPUT
    assert (lookup.CACHE_FORMAT, lookup.MAX_PROFILES_FILE) == (load.CACHE_FORMAT, load.MAX_FILE)
    assert (lookup.MAX_DOCUMENT, lookup.STATE_VERSION) == (codec.MAX_DOCUMENT, state.VERSION)
    assert fsutil.MAX_READ == lookup.MAX_DOCUMENT and os.sep == "/"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(json_values, st.booleans(), st.booleans(), st.sampled_from(["", " ", "\n\t "]))
def test_jsonlite_is_json(value: Any, compact: bool, ascii: bool, space: str) -> None:
    import json

    from oauthcli.cached import jsonlite

    separators = (",", ":") if compact else None
    text = json.dumps(value, separators=separators, ensure_ascii=ascii)
    assert jsonlite.dumps(value, compact=compact, ascii=ascii) == text
    assert repr(jsonlite.loads(space + text + space)) == repr(json.loads(text))
    assert repr(jsonlite.loads((space + text).encode())) == repr(json.loads(text.encode()))


@pytest.mark.parametrize("text", ["", " ", "{", '{"a": 1} x', "[1,]", "nul", '"\\x"', "01"])
def test_jsonlite_refuses_what_json_refuses(text: str) -> None:
    import json

    from oauthcli.cached import jsonlite

    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsonlite.loads(text)


def test_the_local_copy_written_by_the_route_is_the_stores(tmp_path: Path) -> None:
    from oauthcli.cached import shared
    from oauthcli.store.codec import Codec
    from oauthcli.store.local import LocalState
    from oauthcli.store.state import State
    from oauthcli.token import Token

    token = Token("at-1", "Bearer", 2e9, "s", "rt-2", None, 1e9,
                  {"access_token": "at-1", "refresh_token": "rt-2", "x": ["rt-1", "k"]})  # fmt: skip
    stored = State(token, "rt-2", "fp", 7)
    doc = Codec().encode("p@1", stored)
    store = shared.address("redis://h:1/0?prefix=ci")
    assert store is not None
    shared.keep_copy(str(tmp_path), store, "p@1", doc)
    copy = LocalState(tmp_path, store.store_id, Codec()).get_copy("p@1")
    assert copy == State.from_json(doc).without_refresh_tokens()
    assert b"rt-2" not in Path(shared.copy_path(str(tmp_path), store, "p@1")).read_bytes()
