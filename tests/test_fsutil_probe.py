"""The write probe (store/fsutil.probe_write) that proves a state file fits before a grant is
spent: posix_fallocate where the filesystem has it, else written zeros and an fsync. The real
full filesystem is in test_safety_state.py; here the fallbacks, which that machine never takes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from oauthcli.store import fsutil


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir()
    return directory


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_the_probe_allocates_and_leaves_nothing(state_dir: Path) -> None:
    fsutil.probe_write(state_dir)
    assert _leftovers(state_dir) == []


@pytest.mark.parametrize("code", [errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL])
def test_without_fallocate_zeros_are_written_and_synced(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    written: list[int] = []
    synced: list[int] = []

    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(code, os.strerror(code))

    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    monkeypatch.setattr(
        os, "write", lambda fd, data: written.append(len(data)) or real_write(fd, data)
    )
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    fsutil.probe_write(state_dir, size=4096)
    assert written == [4096] and len(synced) == 1
    assert _leftovers(state_dir) == []


def test_a_platform_without_fallocate_writes_zeros(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "posix_fallocate")
    fsutil.probe_write(state_dir)
    assert _leftovers(state_dir) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_no_space_is_reported_and_the_probe_removed(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError) as caught:
        fsutil.probe_write(state_dir)
    assert caught.value.errno == code
    assert _leftovers(state_dir) == []
