"""Reading a file the configuration names, bounded (SPEC §13 "Every input is bounded").

The profiles file and ``${file:}`` are read through ``read_regular``: the path is stat-ed first
and anything but a regular file (a FIFO, a device, a socket, a directory) is refused before it is
opened, so a FIFO cannot hang the run and ``/dev/zero`` cannot fill memory. The open itself is
non-blocking and re-checked with fstat, in case the path was swapped in between; at most
``limit`` bytes are accepted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MIB = 1 << 20
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


class NotRegular(Exception):
    """The path is not a regular file, or is larger than allowed; ``str()`` says which."""


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def size_text(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit} bytes"


def check_regular(info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotRegular(f"is {kind_of(info.st_mode)}, not a regular file")
    if info.st_size > limit:
        raise NotRegular(f"is larger than {size_text(limit)}")


def read_regular(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The content of the regular file ``path`` and its fstat (OSError, NotRegular)."""
    check_regular(os.stat(path), limit)
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOCTTY | _CLOEXEC)
    try:
        opened = os.fstat(fd)
        check_regular(opened, limit)  # swapped since the stat
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > limit:
        raise NotRegular(f"is larger than {size_text(limit)}")  # it grew while being read
    return b"".join(chunks), opened


def read_stream(stream: object, limit: int) -> str:
    """At most ``limit`` characters of a text stream (``-c -``); NotRegular beyond."""
    text = stream.read(limit + 1)  # type: ignore[attr-defined]
    if not isinstance(text, str):
        raise NotRegular("is not text")
    if len(text) > limit:
        raise NotRegular(f"is larger than {size_text(limit)}")
    return text


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); UnicodeDecodeError otherwise."""
    return data.decode("utf-8-sig")
