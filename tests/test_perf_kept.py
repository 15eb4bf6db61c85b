"""Kept states are found without listing the state dir for every grant (store.local MARKER):
`refresh --all` of n profiles listed it 2n times, O(n²) in all (SPEC §8, issue 16)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from oauthcli.store import local
from oauthcli.store.codec import Codec
from oauthcli.store.local import LocalState
from oauthcli.store.state import State
from oauthcli.token import Token


def state(generation: int = 0) -> State:
    return State(Token("at-1", expires_at=1e9, obtained_at=0.0), "rt-kept", None, generation)


def counting_listdir(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real_listdir, real_glob = os.listdir, Path.glob

    def listdir(path: object = ".") -> list[str]:
        calls.append(str(path))
        return real_listdir(path)  # type: ignore[arg-type]

    def glob(self: Path, pattern: str) -> object:
        calls.append(f"{self}/{pattern}")
        return real_glob(self, pattern)

    monkeypatch.setattr(local.os, "listdir", listdir)
    monkeypatch.setattr(Path, "glob", glob)
    return calls


def test_a_dir_without_kept_states_is_listed_once_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalState(tmp_path / "state", "file:x", Codec())
    (tmp_path / "state").mkdir(mode=0o700)
    calls = counting_listdir(monkeypatch)
    assert store.kept("a@1") == [] and len(calls) == 1  # the one look for older kept states
    for name in (f"p{i}@1" for i in range(50)):
        assert store.kept(name) == []
        store.discard_kept(name)
    assert len(calls) == 1
    assert oct((tmp_path / "state" / local.SCANNED).stat().st_mode & 0o777) == "0o600"


def test_a_kept_state_is_found_and_discarded(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    store = LocalState(directory, "file:x", Codec())
    assert store.kept("p@1") == []  # no directory yet
    path = store.keep("p@1", state(), base=3)
    assert (directory / local.MARKER).exists()
    [kept] = store.kept("p@1")
    assert (kept.path, kept.base, kept.state.rotated_refresh_token) == (path, 3, "rt-kept")
    store.discard_kept("p@1")
    assert store.kept("p@1") == [] and (directory / local.MARKER).exists()  # never removed


def test_kept_states_from_before_the_marker_are_still_found(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    old = LocalState(directory, "file:x", Codec())
    doc = Codec().encode("p@1", state(), kind="kept").decode()
    legacy = directory / f"{old._kept_prefix('p@1')}20260101T000000-abcdef"
    legacy.write_text(json.dumps({"store": "file:x", "base": 1, "state": doc}))
    legacy.chmod(0o600)
    [kept] = LocalState(directory, "file:x", Codec()).kept("p@1")
    assert kept.path == legacy and (directory / local.MARKER).exists()
